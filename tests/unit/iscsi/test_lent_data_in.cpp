// Reads of 64 KiB and more go out as Data-In straight from the mem LUN's memory (Backend::
// read_view): byte-exact across PDU splits that cut its 4 KiB chunks anywhere (odd segment
// lengths, padding), with header digests, with residuals (and, with data digests on, which
// turn lending off, through the command's buffer as before); an ORDERED write queued
// behind such a read while its data waits in a full socket does not show through; task
// management does not wait for the send; a connection that dies with lent data queued lets go
// of it, so ORDERED writes on another session go on.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "live_server.hpp"
#include "raw_initiator.hpp"

namespace vstor::iscsi {
namespace {

using namespace std::chrono_literals;
using test::LiveServerTest;
using test::RawInitiator;

constexpr const char* kLentIqn = "iqn.2026-11.org.vstor:lent";
constexpr std::uint32_t KiB = 1024, MiB = 1024 * KiB;
constexpr std::uint32_t kBig = 16 * MiB;  // more than the target's socket buffer takes at once

std::vector<std::uint8_t> lent_pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed * 31 + i * 7 + (i >> 9));
    return v;
}

class LentDataIn : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        const auto tid = add_target(cfg, kLentIqn);
        mem = std::make_shared<backends::MemBackend>(64ull << 20, 512);
        ASSERT_TRUE(adapter->add_lun(tid, 0, mem));
        cfg.event_loops = 2;
        start_server(cfg);
    }

    // Stores `data` at byte `at` of the LUN directly (the mem LUN completes inline).
    void store(std::uint64_t at, const std::vector<std::uint8_t>& data) {
        IoStatus st = IoStatus::medium_error;
        mem->write(at / 512, std::as_bytes(std::span(data)), false, [&](IoStatus s) { st = s; });
        ASSERT_EQ(st, IoStatus::ok);
    }

    std::unique_ptr<RawInitiator> login(std::uint32_t seg, bool header_digest = false, bool data_digest = false,
                                        std::uint8_t isid = 1, int rcvbuf = 0) {
        auto ini = std::make_unique<RawInitiator>(port, rcvbuf);
        auto r = ini->login(kLentIqn,
                            {{"HeaderDigest", header_digest ? "CRC32C" : "None"},
                             {"DataDigest", data_digest ? "CRC32C" : "None"},
                             {"MaxRecvDataSegmentLength", std::to_string(seg)},
                             {"MaxBurstLength", "262144"},
                             {"ImmediateData", "Yes"},
                             {"FirstBurstLength", "65536"},
                             {"ErrorRecoveryLevel", "0"}},
                            isid);
        EXPECT_TRUE(r && r->opcode() == op::login_response && r->bhs[36] == 0 && r->bhs[37] == 0);
        ini->set_digests(header_digest, data_digest);
        return ini;
    }

    // The image of the LUN's first `n` bytes the tests build: a pattern, a hole never written
    // (lent from the shared zero area), and another pattern starting mid-chunk.
    std::vector<std::uint8_t> fill(std::size_t n) {
        std::vector<std::uint8_t> image(n, 0);
        const auto a = lent_pattern(n / 2, 3), b = lent_pattern(n / 4 - 1536, 9);
        store(0, a);
        store(n / 2 + n / 4 + 1536, b);
        std::copy(a.begin(), a.end(), image.begin());
        std::copy(b.begin(), b.end(), image.begin() + static_cast<std::ptrdiff_t>(n / 2 + n / 4 + 1536));
        return image;
    }

    void reads_back_exactly(bool header_digest, bool data_digest) {
        const auto image = fill(4 * MiB);
        // 5003-byte segments: every PDU starts and ends inside a 4 KiB chunk and needs padding.
        for (const std::uint32_t seg : {5003u, 65536u, 262144u}) {
            auto ini = login(seg, header_digest, data_digest);
            std::uint32_t itt = 1;
            // Starting at block 3 (1,536 bytes into a chunk), 1 MiB and the whole 4 MiB less it.
            for (const std::uint32_t lba : {0u, 3u}) {
                for (const std::uint32_t bytes : {64 * KiB, 1 * MiB + 512, 4 * MiB - 1536 * 2}) {
                    auto got = ini->read10(itt++, lba, bytes);
                    ASSERT_TRUE(got) << "seg " << seg << " lba " << lba << " bytes " << bytes;
                    const auto from = image.begin() + lba * 512;
                    ASSERT_TRUE(std::equal(got->begin(), got->end(), from))
                        << "seg " << seg << " lba " << lba << " bytes " << bytes;
                }
            }
            // Room for more than the CDB reads: the underflow is reported, the data exact.
            ASSERT_TRUE(ini->send_read10(itt, 3, 128 * KiB, 1, 128 * KiB + 4096));
            auto got = ini->collect_read(itt, 128 * KiB + 4096, 4096);
            ASSERT_TRUE(got);
            EXPECT_TRUE(std::equal(got->begin(), got->begin() + 128 * KiB, image.begin() + 1536));
        }
    }

    std::shared_ptr<backends::MemBackend> mem;
};

TEST_F(LentDataIn, ReadsAreByteExactAcrossPduSplits) { reads_back_exactly(false, false); }

TEST_F(LentDataIn, ReadsAreByteExactWithHeaderDigests) { reads_back_exactly(true, false); }

TEST_F(LentDataIn, ReadsWithDataDigestsAreCopiedAndExact) { reads_back_exactly(true, true); }

// The read's last bytes are still lent (not yet in the socket: the initiator is not reading)
// when an ORDERED write to them arrives: the write must wait until they are sent.
TEST_F(LentDataIn, AnOrderedWriteDoesNotShowThroughAReadStillBeingSent) {
    const auto old_data = lent_pattern(kBig, 5);
    store(0, old_data);
    auto ini = login(262144, false, false, 1, 64 * KiB);
    const auto new_data = lent_pattern(64 * KiB, 6);
    const std::uint32_t tail_lba = (kBig - 64 * KiB) / 512;
    ASSERT_TRUE(ini->send_read10(1, 0, kBig));
    std::this_thread::sleep_for(100ms);  // the read completes; its data fills the socket
    ASSERT_TRUE(ini->write10(2, tail_lba, new_data, new_data.size(), true, 2 /* ORDERED */));
    std::this_thread::sleep_for(300ms);  // time enough for the write to run, were it let in
    auto got = ini->collect_read(1, kBig);
    ASSERT_TRUE(got);
    EXPECT_TRUE(std::equal(got->begin(), got->end(), old_data.begin())) << "the ORDERED write showed through";
    auto r = ini->next();
    ASSERT_TRUE(r && r->opcode() == op::scsi_response && r->itt() == 2);
    EXPECT_EQ(r->bhs[3], 0);
    auto back = ini->read10(3, tail_lba, 64 * KiB);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, new_data);
}

// LUN RESET from another session returns while a read's data is stuck in a full socket; an
// ORDERED write from that session waits for it, and goes on when the stuck connection dies.
TEST_F(LentDataIn, ResetAndTeardownWithLentDataQueued) {
    const auto old_data = lent_pattern(kBig, 7);
    store(0, old_data);
    auto stuck = login(262144, false, false, 1, 64 * KiB);
    ASSERT_TRUE(stuck->send_read10(1, 0, kBig));
    std::this_thread::sleep_for(100ms);
    auto other = login(65536, false, false, 2);
    ASSERT_TRUE(other->tmf(10, 5));  // LOGICAL UNIT RESET
    auto r = other->next();
    ASSERT_TRUE(r && r->opcode() == op::tmf_response) << "LUN RESET waited for the stuck send";
    EXPECT_EQ(r->bhs[2], 0);  // function complete
    // Uses up the reset's unit attention.
    EXPECT_FALSE(other->read10(11, 0, 512));
    const auto new_data = lent_pattern(64 * KiB, 8);
    ASSERT_TRUE(other->write10(12, 0, new_data, new_data.size(), true, 2 /* ORDERED */));
    EXPECT_TRUE(other->quiet(300)) << "the ORDERED write ran while the read's data was lent";
    stuck.reset();  // the initiator goes away with 16 MiB unread
    r = other->next();
    ASSERT_TRUE(r && r->opcode() == op::scsi_response && r->itt() == 12);
    EXPECT_EQ(r->bhs[3], 0);
    auto back = other->read10(13, 0, 64 * KiB);
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, new_data);
}

}  // namespace
}  // namespace vstor::iscsi
