// `--lun` parsing: every accepted form and a clear error for each bad one.
#include <gtest/gtest.h>

#include "config/lun_spec.hpp"

namespace vstor::cli {
namespace {

TEST(LunSpec, MemWithSuffixes) {
    std::string err;
    auto s = parse_lun_spec("mem:1G", err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->kind, "mem");
    EXPECT_EQ(s->size_bytes, 1ull << 30);
    EXPECT_EQ(s->block_size, 512u);
}

TEST(LunSpec, FileWithOptions) {
    std::string err;
    auto s = parse_lun_spec("file:/tmp/x.img,size=8G,ro,removable,bs=4096,name=disk", err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->path, "/tmp/x.img");
    EXPECT_EQ(s->size_bytes, 8ull << 30);
    EXPECT_TRUE(s->read_only);
    EXPECT_TRUE(s->removable);
    EXPECT_EQ(s->block_size, 4096u);
    EXPECT_EQ(s->name, "disk");
}

TEST(LunSpec, ErrorsNameTheProblem) {
    std::string err;
    EXPECT_FALSE(parse_lun_spec("mem:12Q", err));
    EXPECT_NE(err.find("bad size '12Q'"), std::string::npos);
    EXPECT_FALSE(parse_lun_spec("tape:1G", err));
    EXPECT_NE(err.find("unknown backend 'tape'"), std::string::npos);
    EXPECT_FALSE(parse_lun_spec("mem", err));
    EXPECT_FALSE(parse_lun_spec("mem:1G,sparkly", err));
    EXPECT_NE(err.find("unknown option 'sparkly'"), std::string::npos);
    EXPECT_FALSE(parse_lun_spec("mem:1000,bs=512", err));  // not a multiple of the block size
    EXPECT_FALSE(parse_lun_spec("mem:1G,bs=1000", err));
    EXPECT_FALSE(parse_lun_spec("mem:1G,thick", err));
}

TEST(LunSpec, SanitizeRateReadsAndFormatsBack) {
    std::string err;
    auto s = parse_lun_spec("mem:256M,sanitize_rate=32M", err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->sanitize_rate, 32ull << 20);
    EXPECT_EQ(format_lun_spec(*s), "mem:256M,sanitize_rate=32M");
    EXPECT_FALSE(parse_lun_spec("mem:256M,sanitize_rate=0", err));
    EXPECT_NE(err.find("sanitize_rate is bytes per second"), std::string::npos) << err;
    EXPECT_FALSE(parse_lun_spec("mem:256M,sanitize_rate=fast", err));
}

TEST(LunSpec, RbdReadsAndFormatsBack) {
    std::string err;
    auto s = parse_lun_spec("rbd:rbd/vol1,conf=/etc/ceph/ceph.conf,id=iscsi,ro,bs=4096,name=v", err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->kind, "rbd");
    EXPECT_EQ(s->path, "rbd/vol1");
    EXPECT_EQ(s->rbd_conf, "/etc/ceph/ceph.conf");
    EXPECT_EQ(s->rbd_id, "iscsi");
    EXPECT_TRUE(s->read_only);
    EXPECT_EQ(format_lun_spec(*s), "rbd:rbd/vol1,conf=/etc/ceph/ceph.conf,id=iscsi,ro,bs=4096,name=v");
    s->size_bytes = 1ull << 30;  // what `ctl lun resize` leaves in a plan: the image keeps its own size
    EXPECT_EQ(format_lun_spec(*s), "rbd:rbd/vol1,conf=/etc/ceph/ceph.conf,id=iscsi,ro,bs=4096,name=v");
    for (const char* bad : {"rbd:vol1", "rbd:/vol1", "rbd:rbd/", "rbd:a/b/c", "rbd:rbd/vol1,size=1G",
                            "rbd:rbd/vol1,thick", "rbd:rbd/vol1,removable", "mem:1G,conf=/x", "file:/x.img,id=a"})
        EXPECT_FALSE(parse_lun_spec(bad, err)) << bad;
}

TEST(LunSpec, RbdStallIsMillisecondsInRange) {
    std::string err;
    auto s = parse_lun_spec("rbd:rbd/vol1,stall_ms=1500,id=gw", err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->rbd_stall_ms, 1500u);
    EXPECT_EQ(format_lun_spec(*s), "rbd:rbd/vol1,id=gw,stall_ms=1500");  // what `ctl save` writes
    EXPECT_EQ(parse_lun_spec(format_lun_spec(*s), err)->rbd_stall_ms, 1500u);
    EXPECT_EQ(format_lun_spec(*parse_lun_spec("rbd:rbd/vol1", err)), "rbd:rbd/vol1");  // default: not written
    for (const char* bad : {"rbd:rbd/vol1,stall_ms=", "rbd:rbd/vol1,stall_ms=499", "rbd:rbd/vol1,stall_ms=600001",
                            "rbd:rbd/vol1,stall_ms=3s", "rbd:rbd/vol1,stall_ms=-1", "rbd:rbd/vol1,stall_ms=99999999999"}) {
        err.clear();
        EXPECT_FALSE(parse_lun_spec(bad, err)) << bad;
        EXPECT_NE(err.find("stall_ms is the milliseconds"), std::string::npos) << err;
    }
    EXPECT_FALSE(parse_lun_spec("mem:1G,stall_ms=1000", err));  // rbd only
    EXPECT_NE(err.find("unknown option 'stall_ms=1000'"), std::string::npos) << err;
}

// forget_ms=: how long a dead gateway's target port group stays listed (docs/ceph.md), read
// from --lun, the configuration file and `ctl lun add` alike (all parse_lun_spec), and written
// back by `ctl save` (format_lun_spec) only when given.
TEST(LunSpec, RbdForgetIsMillisecondsInRangeAndSaved) {
    std::string err;
    auto s = parse_lun_spec("rbd:rbd/vol1,forget_ms=20000,stall_ms=2000", err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->rbd_forget_ms, 20000u);
    EXPECT_EQ(s->rbd_stall_ms, 2000u);
    EXPECT_EQ(format_lun_spec(*s), "rbd:rbd/vol1,stall_ms=2000,forget_ms=20000");
    auto again = parse_lun_spec(format_lun_spec(*s), err);
    ASSERT_TRUE(again) << err;
    EXPECT_EQ(again->rbd_forget_ms, 20000u);
    EXPECT_EQ(parse_lun_spec("rbd:rbd/vol1,forget_ms=10000", err)->rbd_forget_ms, 10000u);
    EXPECT_EQ(parse_lun_spec("rbd:rbd/vol1,forget_ms=86400000", err)->rbd_forget_ms, 86400000u);
    EXPECT_EQ(parse_lun_spec("rbd:rbd/vol1", err)->rbd_forget_ms, 0u);  // the default: not written back
    for (const char* bad : {"rbd:rbd/vol1,forget_ms=", "rbd:rbd/vol1,forget_ms", "rbd:rbd/vol1,forget_ms=9999",
                            "rbd:rbd/vol1,forget_ms=86400001", "rbd:rbd/vol1,forget_ms=60s",
                            "rbd:rbd/vol1,forget_ms=-1", "rbd:rbd/vol1,forget_ms=99999999999"}) {
        err.clear();
        EXPECT_FALSE(parse_lun_spec(bad, err)) << bad;
        EXPECT_NE(err.find("forget_ms is the milliseconds a dead gateway's port group stays listed before it is "
                           "removed, 10000 to 86400000"),
                  std::string::npos)
            << err;
    }
    EXPECT_FALSE(parse_lun_spec("file:/x.img,forget_ms=20000", err));  // rbd only
    EXPECT_NE(err.find("unknown option 'forget_ms=20000'"), std::string::npos) << err;
    EXPECT_NE(err.find("stall_ms=, forget_ms=)"), std::string::npos) << err;  // listed among the options
}

TEST(LunSpec, SizeOverflowIsRefused) {
    EXPECT_FALSE(parse_size("99999999999T"));
    EXPECT_EQ(parse_size("512"), 512u);
    EXPECT_EQ(parse_size("4K"), 4096u);
}

}  // namespace
}  // namespace vstor::cli
