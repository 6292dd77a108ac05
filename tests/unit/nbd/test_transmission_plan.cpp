// The transmission plan without a socket: which SCSI commands an NBD request becomes, in what
// order, and which NBD answer it ends with. Scripted completions pin the sequence (chunking,
// FUA, retries); a real engine with a thin and a thick LUN pins what the LUN makes of it.
#include <gtest/gtest.h>

#include <algorithm>
#include <future>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "nbd/protocol.hpp"
#include "nbd/transmission_plan.hpp"
#include "util/endian.hpp"
#include "vstor/adapter.hpp"
#include "vstor/lun_address.hpp"
#include "check_condition.hpp"

namespace vstor::nbd {
namespace {

using test::check_condition;

constexpr std::uint32_t kPlanBlock = 512;
constexpr std::uint64_t kLunBytes = 1u << 20;

RequestHeader plan_req(std::uint16_t type, std::uint64_t offset, std::uint32_t length, std::uint16_t flags = 0) {
    return RequestHeader{flags, type, 42, offset, length};
}

PlanContext context(bool thin) {
    PlanContext ctx;
    ctx.limits.size_bytes = kLunBytes;
    ctx.limits.block_size = kPlanBlock;
    ctx.limits.thin = thin;
    ctx.limits.structured = true;
    ctx.zero_block.assign(kPlanBlock, std::byte{0});
    return ctx;
}

std::uint64_t cdb_lba(const Command& c) { return util::load_be64(&c.cdb[2]); }
std::uint32_t cdb_count(const Command& c) { return util::load_be32(&c.cdb[10]); }

// (lba, blocks) of each descriptor of the UNMAP parameter list the command carries.
std::vector<std::pair<std::uint64_t, std::uint32_t>> unmap_ranges(const Command& c) {
    std::vector<std::pair<std::uint64_t, std::uint32_t>> out;
    const auto* p = reinterpret_cast<const std::uint8_t*>(c.data.data());
    const std::size_t n = util::load_be16(p + 2) / 16;
    for (std::size_t i = 0; i < n; ++i) out.emplace_back(util::load_be64(p + 8 + 16 * i), util::load_be32(p + 16 + 16 * i));
    return out;
}

TEST(NbdTransmissionPlan, WriteFuaSetsTheFuaBitOnWrite16) {
    auto ctx = context(true);
    for (bool fua : {false, true}) {
        TransmissionPlan p;
        p.reset(plan_req(cmd::write, 8192, 4096, fua ? cmd_flag::fua : 0));
        p.buffer().assign(4096, std::byte{7});
        ASSERT_EQ(p.begin(ctx), Step::submit);
        EXPECT_EQ(p.command().cdb[0], 0x8a);
        EXPECT_EQ(p.command().cdb[1], fua ? 0x08 : 0x00);
        EXPECT_EQ(cdb_lba(p.command()), 16u);
        EXPECT_EQ(cdb_count(p.command()), 8u);
        EXPECT_EQ(p.command().data.size(), 4096u);
        EXPECT_EQ(p.complete(Completion{}), Step::reply_ok);
    }
}

TEST(NbdTransmissionPlan, LargeReadsAskForLentMemoryUnlessTold) {
    auto ctx = context(true);
    for (bool lend : {true, false}) {
        ctx.lend = lend;  // false under TLS (the connection says so)
        for (std::uint32_t len : {4096u, 65536u, 1u << 20}) {
            TransmissionPlan p;
            p.reset(plan_req(cmd::read, 0, len));
            ASSERT_EQ(p.begin(ctx), Step::submit);
            EXPECT_EQ(p.command().accept_data_view, lend && len >= 65536) << len;
        }
    }
}

TEST(NbdTransmissionPlan, TrimFollowsBlockLimitsThenFlushesForFua) {
    auto ctx = context(true);
    ctx.block_limits.max_unmap_blocks = 8;
    ctx.block_limits.max_unmap_descriptors = 2;
    TransmissionPlan p;
    p.reset(plan_req(cmd::trim, 100 * kPlanBlock, 40 * kPlanBlock, cmd_flag::fua));
    ASSERT_EQ(p.begin(ctx), Step::submit);
    std::vector<std::pair<std::uint64_t, std::uint32_t>> all;
    int unmaps = 0;
    Step s = Step::submit;
    while (s == Step::submit && p.command().cdb[0] == 0x42) {
        ++unmaps;
        const auto r = unmap_ranges(p.command());
        EXPECT_LE(r.size(), 2u);
        all.insert(all.end(), r.begin(), r.end());
        s = p.complete(Completion{});
    }
    EXPECT_EQ(unmaps, 3);  // 16 + 16 + 8 blocks
    const std::vector<std::pair<std::uint64_t, std::uint32_t>> want{{100, 8}, {108, 8}, {116, 8},
                                                                     {124, 8}, {132, 8}};
    EXPECT_EQ(all, want);
    ASSERT_EQ(s, Step::submit);
    EXPECT_EQ(p.command().cdb[0], 0x91);  // SYNCHRONIZE CACHE(16) for FUA, once at the end
    EXPECT_EQ(p.complete(Completion{}), Step::reply_ok);
}

TEST(NbdTransmissionPlan, TrimWithoutFuaDoesNotFlush) {
    auto ctx = context(true);
    TransmissionPlan p;
    p.reset(plan_req(cmd::trim, 0, 64 * kPlanBlock));
    ASSERT_EQ(p.begin(ctx), Step::submit);
    EXPECT_EQ(p.command().cdb[0], 0x42);
    EXPECT_EQ(p.complete(Completion{}), Step::reply_ok);
}

TEST(NbdTransmissionPlan, WriteZeroesUnmapBitFollowsNoHole) {
    auto ctx = context(true);
    ctx.block_limits.max_write_same_blocks = 16;
    for (bool no_hole : {false, true}) {
        SCOPED_TRACE(no_hole ? "no_hole" : "holes allowed");
        TransmissionPlan p;
        p.reset(plan_req(cmd::write_zeroes, 0, 40 * kPlanBlock, no_hole ? cmd_flag::no_hole : 0));
        Step s = p.begin(ctx);
        std::vector<std::uint32_t> counts;
        while (s == Step::submit) {
            ASSERT_EQ(p.command().cdb[0], 0x93);  // WRITE SAME(16)
            EXPECT_EQ(p.command().cdb[1], no_hole ? 0x00 : 0x08) << "UNMAP bit";
            EXPECT_EQ(cdb_lba(p.command()), 16u * counts.size());
            EXPECT_EQ(p.command().data.size(), kPlanBlock);  // one zero block
            counts.push_back(cdb_count(p.command()));
            s = p.complete(Completion{});
        }
        EXPECT_EQ(s, Step::reply_ok);
        EXPECT_EQ(counts, (std::vector<std::uint32_t>{16, 16, 8}));
    }
}

TEST(NbdTransmissionPlan, WriteZeroesNeverSetsUnmapOnAThickLun) {
    auto ctx = context(false);
    TransmissionPlan p;
    p.reset(plan_req(cmd::write_zeroes, 0, 4 * kPlanBlock));
    ASSERT_EQ(p.begin(ctx), Step::submit);
    ASSERT_EQ(p.command().cdb[0], 0x93);
    EXPECT_EQ(p.command().cdb[1], 0x00) << "a thick LUN refuses WRITE SAME's UNMAP bit";
}

TEST(NbdTransmissionPlan, FastZeroOnlyWhereItDeallocates) {
    auto thin = context(true);
    auto thick = context(false);
    TransmissionPlan p;
    p.reset(plan_req(cmd::write_zeroes, 0, 4096, cmd_flag::fast_zero));
    EXPECT_EQ(p.begin(thin), Step::submit);
    p.reset(plan_req(cmd::write_zeroes, 0, 4096, cmd_flag::fast_zero | cmd_flag::no_hole));
    EXPECT_EQ(p.begin(thin),
              Step::reply_error);
    EXPECT_EQ(p.error(), err::notsup);
    p.reset(plan_req(cmd::write_zeroes, 0, 4096, cmd_flag::fast_zero));
    EXPECT_EQ(p.begin(thick), Step::reply_error);
    EXPECT_EQ(p.error(), err::notsup);
    p.reset(plan_req(cmd::write_zeroes, 0, 4096));
    EXPECT_EQ(p.begin(thick), Step::submit);
}

TEST(NbdTransmissionPlan, WriteZeroesWithFuaFlushesAfterTheLastChunk) {
    auto ctx = context(false);
    TransmissionPlan p;
    p.reset(plan_req(cmd::write_zeroes, 0, 8 * kPlanBlock, cmd_flag::fua));
    ASSERT_EQ(p.begin(ctx), Step::submit);
    EXPECT_EQ(p.command().cdb[0], 0x93);
    ASSERT_EQ(p.complete(Completion{}), Step::submit);
    EXPECT_EQ(p.command().cdb[0], 0x91);
    EXPECT_EQ(p.complete(Completion{}), Step::reply_ok);
}

TEST(NbdTransmissionPlan, UnitAttentionRetriesThenGivesUpWithEio) {
    auto ctx = context(true);
    TransmissionPlan p;
    p.reset(plan_req(cmd::read, 0, 4096));
    ASSERT_EQ(p.begin(ctx), Step::submit);
    for (int i = 0; i < 64; ++i) ASSERT_EQ(p.complete(check_condition(0x6, 0x29, 0x00)), Step::submit) << i;
    EXPECT_EQ(p.command().cdb[0], 0x88);  // the same command again
    ASSERT_EQ(p.complete(check_condition(0x6, 0x29, 0x00)), Step::reply_error);
    EXPECT_EQ(p.error(), err::io);
    // A retry that then succeeds answers normally.
    p.reset(plan_req(cmd::read, 0, 4096));
    ASSERT_EQ(p.begin(ctx), Step::submit);
    Completion busy;
    busy.status = scsi_status::busy;
    ASSERT_EQ(p.complete(busy), Step::submit);
    EXPECT_EQ(p.complete(Completion{}), Step::reply_read);
}

TEST(NbdTransmissionPlan, FailuresCarryErrnoAndWhy) {
    auto ctx = context(true);
    TransmissionPlan p;
    p.reset(plan_req(cmd::write, 0, 4096));
    p.buffer().resize(4096);
    ASSERT_EQ(p.begin(ctx), Step::submit);
    Completion rc;
    rc.status = scsi_status::reservation_conflict;
    ASSERT_EQ(p.complete(rc), Step::reply_error);
    EXPECT_EQ(p.error(), err::perm);
    EXPECT_STREQ(p.why(), "reservation conflict");
    p.reset(plan_req(cmd::trim, 0, 4096));
    ASSERT_EQ(p.begin(ctx), Step::submit);
    ASSERT_EQ(p.complete(check_condition(0x7, 0x27, 0x00)), Step::reply_error);
    EXPECT_EQ(p.error(), err::perm);
    EXPECT_STREQ(p.why(), "write protected");
    p.reset(plan_req(cmd::write, 0, 100));
    EXPECT_EQ(p.refuse(err::inval, "misaligned"), Step::reply_error);
    EXPECT_EQ(p.request().cookie, 42u);
    EXPECT_STREQ(p.why(), "misaligned");
    p.reset(plan_req(99, 0, 0));
    EXPECT_EQ(p.begin(ctx), Step::reply_error);
    EXPECT_EQ(p.error(), err::inval);
}

TEST(NbdTransmissionPlan, EmptyRequestsNeedNoCommand) {
    auto ctx = context(true);
    TransmissionPlan p;
    p.reset(plan_req(cmd::read, 0, 0));
    EXPECT_EQ(p.begin(ctx), Step::reply_read);
    p.reset(plan_req(cmd::write, 0, 0));
    EXPECT_EQ(p.begin(ctx), Step::reply_ok);
    p.reset(plan_req(cmd::trim, 0, 0));
    EXPECT_EQ(p.begin(ctx), Step::reply_ok);
    p.reset(plan_req(cmd::cache, 0, 0));
    EXPECT_EQ(p.begin(ctx), Step::reply_ok);
}

TEST(NbdTransmissionPlan, ProbeReadsBlockLimitsOrKeepsDefaults) {
    PlanContext ctx = context(true);
    TransmissionPlan p;
    p.reset({});
    ASSERT_EQ(p.begin_probe(ctx), Step::submit);
    EXPECT_EQ(p.command().cdb[0], 0x12);
    EXPECT_EQ(p.command().cdb[2], 0xb0);
    auto* v = reinterpret_cast<std::uint8_t*>(p.buffer().data());
    std::fill(v, v + 64, 0);
    v[1] = 0xb0;
    util::store_be16(v + 2, 60);
    util::store_be32(v + 20, 1000);  // MAXIMUM UNMAP LBA COUNT
    util::store_be32(v + 24, 3);     // MAXIMUM UNMAP BLOCK DESCRIPTOR COUNT
    Completion good;
    good.data_in_len = 64;
    ASSERT_EQ(p.complete(good), Step::probed);
    ASSERT_TRUE(p.probed_limits());
    EXPECT_EQ(p.probed_limits()->max_unmap_blocks, 1000u);
    EXPECT_EQ(p.probed_limits()->max_unmap_descriptors, 3u);
    p.reset({});
    ASSERT_EQ(p.begin_probe(ctx), Step::submit);
    ASSERT_EQ(p.complete(check_condition(0x5, 0x24, 0x00)), Step::probed);
    EXPECT_FALSE(p.probed_limits());
}

// ---- Against the engine ------------------------------------------------------------------

// A MemBackend that says it is thick: no UNMAP, zeroes are written.
class ThickMem final : public Backend {
public:
    explicit ThickMem(std::uint64_t bytes) : m_(std::make_shared<backends::MemBackend>(bytes)) {}
    std::string kind() const override { return "thick-mem"; }
    std::uint32_t block_size() const override { return m_->block_size(); }
    std::uint64_t block_count() const override { return m_->block_count(); }
    BackendCaps caps() const override {
        auto c = m_->caps();
        c.thin = false;
        c.allocation_status = false;
        return c;
    }
    void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) override { m_->read(lba, buf, done); }
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) override {
        m_->write(lba, buf, fua, done);
    }
    void flush(IoCallback done) override { m_->flush(done); }

private:
    std::shared_ptr<backends::MemBackend> m_;
};

class NbdPlanEngine : public ::testing::Test {
protected:
    void SetUp() override {
        adapter = Adapter::create();
        tid = *adapter->add_target("iqn.2026-12.org.vstor:plan").value;
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(kLunBytes)));
        ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<ThickMem>(kLunBytes)));
        LunOptions ro;
        ro.read_only = true;
        ASSERT_TRUE(adapter->add_lun(tid, 2, std::make_shared<backends::MemBackend>(kLunBytes), ro));
        nexus = adapter->open_nexus(tid, "nbd:plan-test");
        ASSERT_TRUE(nexus);
    }

    Completion submit(Command c) {
        std::promise<Completion> done;
        adapter->submit(std::move(c), [&](const Completion& r) { done.set_value(r); });
        return done.get_future().get();
    }
    // Runs the plan to its answer, submitting each command to `lun` and waiting for it. Keeps
    // the response code of each CHECK CONDITION's sense in `sense_formats`.
    Step run(TransmissionPlan& p, Step s, std::uint16_t lun) {
        while (s == Step::submit) {
            Command& c = p.command();
            c.nexus = nexus;
            c.lun = encode_sam_lun(lun);
            c.tag = next_tag++;
            const Completion done = submit(c);
            if (done.status == scsi_status::check_condition) sense_formats.push_back(done.sense[0] & 0x7f);
            s = p.complete(done);
        }
        return s;
    }
    // MODE SELECT(6) of the Control mode page with D_SENSE=1, as any initiator may send: the
    // LUN then reports sense in descriptor format (72h) to every nexus.
    void set_descriptor_sense(std::uint16_t lun) {
        auto admin = adapter->open_nexus(tid, "iqn.2026-12.org.test:admin,i,0x1");
        ASSERT_TRUE(admin);
        std::vector<std::byte> page(255);
        Command c;
        c.nexus = admin;
        c.lun = encode_sam_lun(lun);
        c.cdb_len = 6;
        for (int i = 0; i < 8; ++i) {  // past the new nexus's unit attentions
            c.cdb = {0x1a, 0x08, 0x0a, 0, 255, 0};  // MODE SENSE(6), DBD, Control page
            c.dir = DataDirection::read;
            c.expected_length = 255;
            c.data = std::span(page);
            if (submit(c).status == scsi_status::good) break;
        }
        ASSERT_EQ(static_cast<std::uint8_t>(page[4]) & 0x3f, 0x0a);
        std::vector<std::byte> param(4, std::byte{0});  // mode parameter header, no block descriptors
        param.insert(param.end(), page.begin() + 4, page.begin() + 16);
        param[4 + 2] |= std::byte{0x04};  // D_SENSE
        c.cdb = {0x15, 0x10, 0, 0, static_cast<std::uint8_t>(param.size()), 0};  // MODE SELECT(6), PF
        c.dir = DataDirection::write;
        c.expected_length = static_cast<std::uint32_t>(param.size());
        c.data = std::span(param);
        ASSERT_EQ(submit(c).status, scsi_status::good);
    }
    Step serve(TransmissionPlan& p, const RequestHeader& h, PlanContext& ctx, std::uint16_t lun) {
        p.reset(h);
        return run(p, p.begin(ctx), lun);
    }
    // Whether the LUN reports blocks [lba, lba+8) deallocated (through BLOCK_STATUS).
    bool hole(TransmissionPlan& p, PlanContext& ctx, std::uint16_t lun, std::uint64_t offset) {
        EXPECT_EQ(serve(p, plan_req(cmd::block_status, offset, 4096), ctx, lun), Step::reply_extents);
        return !p.extents().empty() && (p.extents()[0].second & kStateHole);
    }
    void write_pattern(TransmissionPlan& p, PlanContext& ctx, std::uint16_t lun, std::uint64_t offset) {
        p.reset(plan_req(cmd::write, offset, 4096));
        p.buffer().assign(4096, std::byte{0xab});
        ASSERT_EQ(run(p, p.begin(ctx), lun), Step::reply_ok);
    }
    bool reads_zeroes(TransmissionPlan& p, PlanContext& ctx, std::uint16_t lun, std::uint64_t offset) {
        EXPECT_EQ(serve(p, plan_req(cmd::read, offset, 4096), ctx, lun), Step::reply_read);
        return std::all_of(p.buffer().begin(), p.buffer().begin() + 4096, [](std::byte b) { return b == std::byte{0}; });
    }

    std::unique_ptr<Adapter> adapter;
    std::uint16_t tid = 0;
    std::shared_ptr<Nexus> nexus;
    std::uint64_t next_tag = 1;
    std::vector<std::uint8_t> sense_formats;
};

TEST_F(NbdPlanEngine, TrimAndReadBeyondTheEnd) {
    auto ctx = context(true);
    TransmissionPlan p;
    // The LUN refuses with LBA OUT OF RANGE: ENOSPC for what writes, EINVAL for reads.
    ASSERT_EQ(serve(p, plan_req(cmd::trim, kLunBytes - 4096, 8192), ctx, 0), Step::reply_error);
    EXPECT_EQ(p.error(), err::nospc);
    ASSERT_EQ(serve(p, plan_req(cmd::write_zeroes, kLunBytes, 4096, cmd_flag::no_hole), ctx, 0), Step::reply_error);
    EXPECT_EQ(p.error(), err::nospc);
    ASSERT_EQ(serve(p, plan_req(cmd::read, kLunBytes, 512), ctx, 0), Step::reply_error);
    EXPECT_EQ(p.error(), err::inval);
    EXPECT_STREQ(p.why(), "request refused by the LUN");
}

TEST_F(NbdPlanEngine, WriteZeroesOnThinZeroesWithOrWithoutNoHole) {
    auto ctx = context(true);
    TransmissionPlan p;
    write_pattern(p, ctx, 0, 0);
    write_pattern(p, ctx, 0, 65536);
    ASSERT_FALSE(hole(p, ctx, 0, 0));
    ASSERT_FALSE(reads_zeroes(p, ctx, 0, 0));
    // NO_HOLE: WRITE SAME without UNMAP (pinned above); the blocks read back as zeroes. (The RAM
    // backend keeps zeroes as holes either way, which SBC allows with LBPRZ.)
    ASSERT_EQ(serve(p, plan_req(cmd::write_zeroes, 0, 4096, cmd_flag::no_hole), ctx, 0), Step::reply_ok);
    EXPECT_TRUE(reads_zeroes(p, ctx, 0, 0));
    // Holes allowed: the blocks are deallocated and read back as zeroes.
    ASSERT_EQ(serve(p, plan_req(cmd::write_zeroes, 65536, 4096), ctx, 0), Step::reply_ok);
    EXPECT_TRUE(reads_zeroes(p, ctx, 0, 65536));
    EXPECT_TRUE(hole(p, ctx, 0, 65536));
}

TEST_F(NbdPlanEngine, WriteZeroesOnThickWritesZeroes) {
    auto ctx = context(false);
    TransmissionPlan p;
    for (std::uint16_t flags : {std::uint16_t{0}, cmd_flag::no_hole, cmd_flag::fua}) {
        write_pattern(p, ctx, 1, 8192);
        ASSERT_FALSE(reads_zeroes(p, ctx, 1, 8192));
        ASSERT_EQ(serve(p, plan_req(cmd::write_zeroes, 8192, 4096, flags), ctx, 1), Step::reply_ok) << p.why();
        EXPECT_TRUE(reads_zeroes(p, ctx, 1, 8192)) << flags;
    }
    ASSERT_EQ(serve(p, plan_req(cmd::write_zeroes, 8192, 4096, cmd_flag::fast_zero), ctx, 1), Step::reply_error);
    EXPECT_EQ(p.error(), err::notsup);
}

TEST_F(NbdPlanEngine, WriteProtectedLunIsEperm) {
    auto ctx = context(true);
    TransmissionPlan p;
    p.reset(plan_req(cmd::write, 0, 4096));
    p.buffer().assign(4096, std::byte{1});
    ASSERT_EQ(run(p, p.begin(ctx), 2), Step::reply_error);
    EXPECT_EQ(p.error(), err::perm);
    EXPECT_STREQ(p.why(), "write protected");
    ASSERT_EQ(serve(p, plan_req(cmd::trim, 0, 4096), ctx, 2), Step::reply_error);
    EXPECT_EQ(p.error(), err::perm);
}

// Issue 17 section 2: once an initiator sets D_SENSE=1, the LUN answers in descriptor format;
// NBD reads it with the public decoder and answers the same errno as with fixed format.
TEST_F(NbdPlanEngine, DescriptorFormatSenseMapsToTheSameErrors) {
    set_descriptor_sense(0);
    set_descriptor_sense(2);
    auto ctx = context(true);
    TransmissionPlan p;
    // The mode change is a unit attention for this nexus (descriptor format too): the plan
    // retries, then the LUN refuses the read with LBA OUT OF RANGE.
    ASSERT_EQ(serve(p, plan_req(cmd::read, kLunBytes, 512), ctx, 0), Step::reply_error);
    EXPECT_EQ(p.error(), err::inval);
    ASSERT_GE(sense_formats.size(), 2u);
    EXPECT_TRUE(std::all_of(sense_formats.begin(), sense_formats.end(), [](std::uint8_t f) { return f == 0x72; }));
    sense_formats.clear();
    ASSERT_EQ(serve(p, plan_req(cmd::trim, kLunBytes - 4096, 8192), ctx, 0), Step::reply_error);
    EXPECT_EQ(p.error(), err::nospc);
    p.reset(plan_req(cmd::write, 0, 4096));
    p.buffer().assign(4096, std::byte{1});
    ASSERT_EQ(run(p, p.begin(ctx), 2), Step::reply_error);
    EXPECT_EQ(p.error(), err::perm);
    EXPECT_STREQ(p.why(), "write protected");
    ASSERT_FALSE(sense_formats.empty());
    EXPECT_EQ(sense_formats.back(), 0x72);
    // Reads still work.
    EXPECT_EQ(serve(p, plan_req(cmd::read, 0, 4096), ctx, 0), Step::reply_read);
}

}  // namespace
}  // namespace vstor::nbd
