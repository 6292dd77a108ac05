// A live NBD server in process, driven over raw sockets: data round trips through the SCSI engine,
// malformed requests get an error reply or a clean disconnect while another client keeps
// working, and SCSI reservations held through another nexus refuse NBD writes with EPERM.
#include <gtest/gtest.h>

#include <future>
#include <numeric>
#include <random>
#include <thread>

#include "backends/mem/mem_backend.hpp"
#include "live_server.hpp"
#include "test_data.hpp"

namespace vstor::nbd {
namespace {

using ::vstor::test::random_bytes;

using test::LiveServerTest;
using test::RawClient;
using test::Reply;

constexpr std::uint64_t kDiskSize = 16u << 20;

class NbdServerTest : public LiveServerTest {
protected:
    void SetUp() override {
        tid = *adapter->add_target("iqn.2026-11.org.vstor:nbdtest").value;
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(kDiskSize)));
        LunOptions ro;
        ro.read_only = true;
        ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<backends::MemBackend>(1u << 20, 4096), ro));
        ServerConfig cfg;
        cfg.exports.push_back(ExportConfig{"disk", "", tid, 0});
        cfg.exports.push_back(ExportConfig{"ro", "golden image", tid, 1});
        cfg.event_loops = 2;
        start_server(cfg);
    }

    // A well-behaved client on its own connection still reads and writes.
    void expect_other_client_works() {
        auto c = client("disk", false);
        std::vector<std::uint8_t> pat(4096, 0x5a);
        ASSERT_TRUE(c->request(cmd::write, 0, 1, 8192, 4096, pat));
        auto w = c->reply();
        ASSERT_TRUE(w.ok);
        EXPECT_EQ(w.error, 0u);
        ASSERT_TRUE(c->request(cmd::read, 0, 2, 8192, 4096));
        auto r = c->reply(4096);
        ASSERT_TRUE(r.ok);
        EXPECT_EQ(r.error, 0u);
        EXPECT_EQ(r.data, pat);
    }

    // SCSI command through its own nexus (what an iSCSI initiator would send).
    Completion scsi(const std::shared_ptr<Nexus>& nx, std::vector<std::uint8_t> cdb, std::vector<std::uint8_t> out) {
        Command c;
        c.nexus = nx;
        c.lun = encode_sam_lun(0);
        std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
        c.cdb_len = static_cast<std::uint8_t>(cdb.size());
        c.dir = out.empty() ? DataDirection::none : DataDirection::write;
        c.expected_length = static_cast<std::uint32_t>(out.size());
        c.data = std::as_writable_bytes(std::span(out));
        for (int i = 0; i < 8; ++i) {
            std::promise<Completion> p;
            adapter->submit(c, [&](const Completion& done) { p.set_value(done); });
            auto done = p.get_future().get();
            const bool ua = done.status == scsi_status::check_condition && done.sense_len > 2 &&
                            (done.sense[2] & 0x0f) == 0x06;
            if (!ua) return done;
        }
        return {};
    }

    std::uint16_t tid = 0;
};

TEST_F(NbdServerTest, WriteReadRoundTripSimpleAndStructured) {
    for (bool structured : {false, true}) {
        auto c = client("disk", structured);
        EXPECT_EQ(c->size(), kDiskSize);
        const auto data = random_bytes(1u << 20, structured ? 2 : 1);
        ASSERT_TRUE(c->request(cmd::write, cmd_flag::fua, 10, 1u << 20, 1u << 20, data));
        auto w = c->reply();
        ASSERT_TRUE(w.ok);
        EXPECT_EQ(w.error, 0u);
        EXPECT_EQ(w.cookie, 10u);
        ASSERT_TRUE(c->request(cmd::read, 0, 11, 1u << 20, 1u << 20));
        auto r = c->reply(1u << 20);
        ASSERT_TRUE(r.ok);
        EXPECT_EQ(r.structured, structured);
        EXPECT_EQ(r.cookie, 11u);
        EXPECT_EQ(r.error, 0u);
        EXPECT_TRUE(r.data == data);
        ASSERT_TRUE(c->request(cmd::flush, 0, 12, 0, 0));
        EXPECT_EQ(c->reply().error, 0u);
        ASSERT_TRUE(c->request(cmd::cache, 0, 13, 0, 65536));
        EXPECT_EQ(c->reply().error, 0u);
    }
}

TEST_F(NbdServerTest, PipelinedRequestsAllAnswered) {
    auto c = client("disk", true);
    constexpr int n = 300;  // more than the in-flight window: reading pauses and resumes
    std::vector<std::vector<std::uint8_t>> blocks;
    for (int i = 0; i < n; ++i) {
        blocks.push_back(random_bytes(4096, 100 + i));
        ASSERT_TRUE(c->request(cmd::write, 0, 1000 + i, 4096ull * i, 4096, blocks.back()));
    }
    std::vector<bool> seen(n);
    for (int i = 0; i < n; ++i) {
        auto r = c->reply();
        ASSERT_TRUE(r.ok);
        EXPECT_EQ(r.error, 0u);
        ASSERT_GE(r.cookie, 1000u);
        ASSERT_LT(r.cookie, 1000u + n);
        seen[r.cookie - 1000] = true;
    }
    EXPECT_EQ(std::count(seen.begin(), seen.end(), true), n);
    for (int i = 0; i < n; i += 37) {
        ASSERT_TRUE(c->request(cmd::read, 0, i, 4096ull * i, 4096));
        auto r = c->reply();
        EXPECT_TRUE(r.data == blocks[i]) << i;
    }
}

TEST_F(NbdServerTest, TrimWriteZeroesAndBlockStatus) {
    auto c = client("disk", true, true);
    const auto data = random_bytes(256u << 10, 7);
    ASSERT_TRUE(c->request(cmd::write, 0, 1, 0, 256u << 10, data));
    ASSERT_EQ(c->reply().error, 0u);
    ASSERT_TRUE(c->request(cmd::block_status, 0, 2, 0, 512u << 10));
    auto bs = c->reply();
    ASSERT_TRUE(bs.ok);
    ASSERT_FALSE(bs.extents.empty());
    EXPECT_EQ(bs.extents[0].second, 0u);  // data
    EXPECT_GE(bs.extents[0].first, 256u << 10);
    // TRIM 64 KiB in the middle (a whole mem chunk): it reads back as zeroes and as a hole.
    ASSERT_TRUE(c->request(cmd::trim, 0, 3, 64u << 10, 64u << 10));
    ASSERT_EQ(c->reply().error, 0u);
    ASSERT_TRUE(c->request(cmd::read, 0, 4, 64u << 10, 64u << 10));
    auto r = c->reply();
    EXPECT_TRUE(std::all_of(r.data.begin(), r.data.end(), [](std::uint8_t b) { return b == 0; }));
    ASSERT_TRUE(c->request(cmd::block_status, 0, 5, 0, 256u << 10));
    bs = c->reply();
    ASSERT_GE(bs.extents.size(), 3u);
    EXPECT_EQ(bs.extents[0], std::make_pair(64u << 10, 0u));
    EXPECT_EQ(bs.extents[1], std::make_pair(64u << 10, kStateHole | kStateZero));
    // REQ_ONE: a single descriptor.
    ASSERT_TRUE(c->request(cmd::block_status, cmd_flag::req_one, 6, 0, 256u << 10));
    EXPECT_EQ(c->reply().extents.size(), 1u);
    // WRITE_ZEROES with NO_HOLE and FUA: zeroes, still allocated.
    ASSERT_TRUE(c->request(cmd::write_zeroes, cmd_flag::no_hole | cmd_flag::fua, 7, 128u << 10, 4096));
    ASSERT_EQ(c->reply().error, 0u);
    ASSERT_TRUE(c->request(cmd::read, 0, 8, 128u << 10, 8192));
    r = c->reply();
    ASSERT_EQ(r.data.size(), 8192u);
    EXPECT_TRUE(std::all_of(r.data.begin(), r.data.begin() + 4096, [](std::uint8_t b) { return b == 0; }));
    EXPECT_TRUE(std::equal(r.data.begin() + 4096, r.data.end(), data.begin() + (128u << 10) + 4096));
    // FAST_ZERO that would need writing every block is refused with ENOTSUP, touching nothing.
    ASSERT_TRUE(c->request(cmd::write_zeroes, cmd_flag::no_hole | cmd_flag::fast_zero, 9, 0, 4096));
    EXPECT_EQ(c->reply().error, err::notsup);
    ASSERT_TRUE(c->request(cmd::read, 0, 10, 0, 4096));
    r = c->reply();
    EXPECT_TRUE(std::equal(r.data.begin(), r.data.end(), data.begin()));
    // FAST_ZERO with holes allowed on a thin LUN is a deallocation: done.
    ASSERT_TRUE(c->request(cmd::write_zeroes, cmd_flag::fast_zero, 11, 0, 64u << 10));
    EXPECT_EQ(c->reply().error, 0u);
    // A large TRIM (more than one UNMAP descriptor's worth is split by the Block Limits VPD).
    ASSERT_TRUE(c->request(cmd::trim, 0, 12, 0, kDiskSize));
    EXPECT_EQ(c->reply().error, 0u);
    ASSERT_TRUE(c->request(cmd::block_status, 0, 13, 0, kDiskSize));
    bs = c->reply();
    ASSERT_EQ(bs.extents.size(), 1u);
    EXPECT_EQ(bs.extents[0].second, kStateHole | kStateZero);
}

TEST_F(NbdServerTest, BadMagicDisconnectsOthersUnaffected) {
    auto bad = client("disk", true);
    auto good = client("disk", true);
    std::array<std::uint8_t, kRequestHeaderSize> junk{};
    junk.fill(0x41);
    ASSERT_TRUE(bad->send_all(junk.data(), junk.size()));
    EXPECT_TRUE(bad->closed_by_server());
    ASSERT_TRUE(good->request(cmd::read, 0, 1, 0, 512));
    EXPECT_TRUE(good->reply().ok);
    expect_other_client_works();
}

TEST_F(NbdServerTest, UnknownCommandIsEinvalAndTheConnectionGoesOn) {
    for (bool structured : {false, true}) {
        auto c = client("disk", structured);
        ASSERT_TRUE(c->request(42, 0, 77, 0, 512));
        auto r = c->reply();
        ASSERT_TRUE(r.ok);
        EXPECT_EQ(r.cookie, 77u);
        EXPECT_EQ(r.error, err::inval);
        if (structured) {
            EXPECT_FALSE(r.message.empty());
        }
        ASSERT_TRUE(c->request(cmd::read, 0, 78, 0, 512));
        auto ok = c->reply(512);
        EXPECT_EQ(ok.error, 0u);
        EXPECT_EQ(ok.data.size(), 512u);
    }
}

TEST_F(NbdServerTest, UnknownFlagIsEinval) {
    auto c = client();
    ASSERT_TRUE(c->request(cmd::read, 0x100, 1, 0, 512));
    EXPECT_EQ(c->reply().error, err::inval);
}

TEST_F(NbdServerTest, ReadPastTheLimitIsEinval) {
    auto c = client("disk", true);
    ASSERT_TRUE(c->request(cmd::read, 0, 1, 0, kMaxPayload + 4096));
    auto r = c->reply();
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.error, err::inval);
    expect_other_client_works();
}

TEST_F(NbdServerTest, WritePastTheLimitDisconnects) {
    auto c = client("disk", true);
    ASSERT_TRUE(c->request(cmd::write, 0, 1, 0, kMaxPayload + 4096));
    EXPECT_TRUE(c->closed_by_server());
    expect_other_client_works();
}

TEST_F(NbdServerTest, TrimBeyondTheEndIsEnospc) {
    auto c = client("disk", true);
    ASSERT_TRUE(c->request(cmd::trim, 0, 1, kDiskSize - 4096, 8192));
    EXPECT_EQ(c->reply().error, err::nospc);
    ASSERT_TRUE(c->request(cmd::read, 0, 2, kDiskSize, 512));
    EXPECT_EQ(c->reply().error, err::inval);
    // A refused WRITE's payload is read and dropped: the stream stays in sync.
    std::vector<std::uint8_t> payload(8192, 0xee);
    ASSERT_TRUE(c->request(cmd::write, 0, 3, kDiskSize - 4096, 8192, payload));
    EXPECT_EQ(c->reply().error, err::nospc);
    ASSERT_TRUE(c->request(cmd::read, 0, 4, 0, 512));
    EXPECT_EQ(c->reply().error, 0u);
    expect_other_client_works();
}

TEST_F(NbdServerTest, MisalignedIsEinval) {
    auto c = client("disk", false);
    std::vector<std::uint8_t> payload(100, 1);
    ASSERT_TRUE(c->request(cmd::write, 0, 1, 0, 100, payload));
    EXPECT_EQ(c->reply().error, err::inval);
    ASSERT_TRUE(c->request(cmd::read, 0, 2, 1, 512));
    EXPECT_EQ(c->reply().error, err::inval);
    ASSERT_TRUE(c->request(cmd::read, 0, 3, 512, 512));
    EXPECT_EQ(c->reply(512).error, 0u);
}

TEST_F(NbdServerTest, ReadOnlyExport) {
    auto c = client("ro", true);
    EXPECT_TRUE(c->flags() & tflag::read_only);
    EXPECT_FALSE(c->flags() & tflag::send_write_zeroes);
    std::vector<std::uint8_t> payload(4096, 1);
    ASSERT_TRUE(c->request(cmd::write, 0, 1, 0, 4096, payload));
    EXPECT_EQ(c->reply().error, err::perm);
    ASSERT_TRUE(c->request(cmd::read, 0, 2, 0, 4096));
    EXPECT_EQ(c->reply().error, 0u);
}

TEST_F(NbdServerTest, ReservationConflictRefusesWritesButNotReads) {
    auto c = client("disk", true);
    std::vector<std::uint8_t> payload(4096, 0x11);
    ASSERT_TRUE(c->request(cmd::write, 0, 1, 0, 4096, payload));
    ASSERT_EQ(c->reply().error, 0u);

    // Another initiator registers a key and takes a Write Exclusive reservation.
    auto other = adapter->open_nexus(tid, "iqn.2026-11.org.test:holder,i,0x1");
    ASSERT_TRUE(other);
    std::vector<std::uint8_t> reg(24, 0);
    util::store_be64(&reg[8], 0xabcdef);  // service action reservation key
    auto done = scsi(other, {0x5f, 0x00, 0, 0, 0, 0, 0, 0, 24, 0}, reg);  // REGISTER
    ASSERT_EQ(done.status, scsi_status::good);
    std::vector<std::uint8_t> res(24, 0);
    util::store_be64(&res[0], 0xabcdef);
    done = scsi(other, {0x5f, 0x01, 0x01, 0, 0, 0, 0, 0, 24, 0}, res);  // RESERVE, Write Exclusive
    ASSERT_EQ(done.status, scsi_status::good);

    payload.assign(4096, 0x22);
    ASSERT_TRUE(c->request(cmd::write, 0, 2, 0, 4096, payload));
    auto w = c->reply();
    EXPECT_EQ(w.error, err::perm);
    EXPECT_NE(w.message.find("reservation"), std::string::npos) << w.message;
    ASSERT_TRUE(c->request(cmd::write_zeroes, 0, 3, 0, 4096));
    EXPECT_EQ(c->reply().error, err::perm);
    ASSERT_TRUE(c->request(cmd::read, 0, 4, 0, 4096));
    auto r = c->reply();
    EXPECT_EQ(r.error, 0u);
    EXPECT_TRUE(std::all_of(r.data.begin(), r.data.end(), [](std::uint8_t b) { return b == 0x11; }));

    // RELEASE: writes go through again.
    done = scsi(other, {0x5f, 0x02, 0x01, 0, 0, 0, 0, 0, 24, 0}, res);
    ASSERT_EQ(done.status, scsi_status::good);
    ASSERT_TRUE(c->request(cmd::write, 0, 5, 0, 4096, payload));
    EXPECT_EQ(c->reply().error, 0u);
    adapter->nexus_lost(other);
}

TEST_F(NbdServerTest, DiscClosesAfterAnsweringInFlight) {
    auto c = client("disk", true);
    ASSERT_TRUE(c->request(cmd::read, 0, 1, 0, 65536));
    ASSERT_TRUE(c->request(cmd::disc, 0, 2, 0, 0));
    auto r = c->reply();
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.data.size(), 65536u);
    EXPECT_TRUE(c->closed_by_server());
}

TEST_F(NbdServerTest, ExportsCanBeAddedAndRemovedAtRuntime) {
    ASSERT_TRUE(adapter->add_lun(tid, 2, std::make_shared<backends::MemBackend>(2u << 20)));
    ASSERT_TRUE(server->add_export(ExportConfig{"late", "", tid, 2}));
    EXPECT_FALSE(server->add_export(ExportConfig{"late", "", tid, 2}));
    auto c = client("late", true);
    EXPECT_EQ(c->size(), 2u << 20);
    ASSERT_TRUE(server->remove_export("late"));
    RawClient d;
    ASSERT_TRUE(d.connect(port));
    ASSERT_TRUE(d.greet());
    auto reps = d.option(opt::go, RawClient::go_data("late"));
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_EQ(reps[0].type, rep::err_unknown);
    // The connection already in transmission keeps its export.
    ASSERT_TRUE(c->request(cmd::read, 0, 1, 0, 512));
    EXPECT_EQ(c->reply().error, 0u);
}

TEST_F(NbdServerTest, DefaultExportAndListOverTheWire) {
    RawClient c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.greet());
    auto list = c.option(opt::list);
    ASSERT_EQ(list.size(), 3u);
    EXPECT_EQ(list[0].type, rep::server);
    EXPECT_EQ(list[2].type, rep::ack);
    auto go = c.option(opt::go, RawClient::go_data(""));
    ASSERT_FALSE(go.empty());
    EXPECT_EQ(go.back().type, rep::ack);
}

TEST_F(NbdServerTest, GarbageDuringHandshakeDisconnects) {
    RawClient c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.greet());
    std::array<std::uint8_t, 16> junk{};
    junk.fill(0x42);
    ASSERT_TRUE(c.send_all(junk.data(), junk.size()));
    EXPECT_TRUE(c.closed_by_server());
    expect_other_client_works();
}

TEST_F(NbdServerTest, StopWithClientsConnectedIsClean) {
    auto a = client("disk", true);
    RawClient half;  // still in the handshake
    ASSERT_TRUE(half.connect(port));
    ASSERT_TRUE(a->request(cmd::read, 0, 1, 0, 4096));
    EXPECT_TRUE(a->reply().ok);
    server->stop();
    EXPECT_TRUE(a->closed_by_server());
    server.reset();
}

}  // namespace
}  // namespace vstor::nbd
