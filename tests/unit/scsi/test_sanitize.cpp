// SANITIZE (SBC-4 5.30): OVERWRITE passes and INVERT, BLOCK ERASE, parameter checking, and the
// progress REQUEST SENSE reports while an IMMED sanitize runs.
#include <chrono>
#include <thread>

#include "engine_fixture.hpp"

namespace vstor::test {
namespace {

class SanitizeTest : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        // Something to sanitize: the first and last 64 KiB hold 0x11.
        std::vector<std::uint8_t> data(65536, 0x11);
        ASSERT_EQ(send({0x2a, 0, 0, 0, 0, 0, 0, 0, 128, 0}, 0, 0, data).status(), 0);
        const std::uint32_t last = (64u << 20) / 512 - 128;
        ASSERT_EQ(send({0x2a, 0, std::uint8_t(last >> 24), std::uint8_t(last >> 16), std::uint8_t(last >> 8),
                        std::uint8_t(last), 0, 0, 128, 0},
                       0, 0, data)
                      .status(),
                  0);
    }

    // SANITIZE OVERWRITE with parameter byte 0 = `flags` (INVERT | TEST | OWCOUNT) and `pattern`.
    Reply overwrite(std::uint8_t flags, std::vector<std::uint8_t> pattern, bool immed = false, std::uint16_t lun = 0) {
        std::vector<std::uint8_t> param{flags, 0, 0, static_cast<std::uint8_t>(pattern.size())};
        param.insert(param.end(), pattern.begin(), pattern.end());
        const auto len = static_cast<std::uint8_t>(param.size());
        return send({0x48, static_cast<std::uint8_t>(0x01 | (immed ? 0x80 : 0)), 0, 0, 0, 0, 0, 0, len, 0}, lun, 0,
                    param);
    }

    // LUN 1: a mem LUN of `bytes` whose SANITIZE OVERWRITE is paced at `rate` bytes per second.
    std::shared_ptr<backends::MemBackend> add_paced_lun(std::uint64_t bytes, std::uint64_t rate) {
        auto paced = std::make_shared<backends::MemBackend>(bytes, 512);
        LunOptions lo;
        lo.sanitize_rate = rate;
        EXPECT_TRUE(adapter->add_lun(tid, 1, paced, lo));
        clear_ua(1);
        return paced;
    }

    // Every byte of blocks [lba, lba + 8) equals `want`.
    bool blocks_hold(std::uint32_t lba, std::uint8_t want) {
        const Reply r = send({0x28, 0, std::uint8_t(lba >> 24), std::uint8_t(lba >> 16), std::uint8_t(lba >> 8),
                              std::uint8_t(lba), 0, 0, 8, 0},
                             0, 4096);
        if (r.status() != 0 || r.data.size() != 4096) return false;
        for (auto b : r.data)
            if (b != want) return false;
        return true;
    }
};

TEST_F(SanitizeTest, OverwriteWritesThePatternEverywhere) {
    ASSERT_EQ(overwrite(0x01, {0x5a, 0x5a}).status(), 0);
    EXPECT_TRUE(blocks_hold(0, 0x5a));
    EXPECT_TRUE(blocks_hold(60000, 0x5a));
    EXPECT_TRUE(blocks_hold((64u << 20) / 512 - 8, 0x5a));
}

// SBC-4: with INVERT the pattern is inverted between consecutive passes, so an odd number of
// passes ends with the pattern and an even number with its inverse. One pass never inverts.
TEST_F(SanitizeTest, OverwritePassesAndInvert) {
    ASSERT_EQ(overwrite(0x80 | 1, {0x0f}).status(), 0);
    EXPECT_TRUE(blocks_hold(0, 0x0f));
    ASSERT_EQ(overwrite(0x80 | 2, {0x0f}).status(), 0);
    EXPECT_TRUE(blocks_hold(0, 0xf0));
    ASSERT_EQ(overwrite(0x80 | 3, {0x0f}).status(), 0);
    EXPECT_TRUE(blocks_hold(100, 0x0f));
    ASSERT_EQ(overwrite(4, {0x0f}).status(), 0);  // no INVERT: every pass writes the pattern
    EXPECT_TRUE(blocks_hold(100, 0x0f));
}

TEST_F(SanitizeTest, OverwriteRejectsBadParameters) {
    Reply r = overwrite(0x00, {0x5a});  // OWCOUNT 0
    EXPECT_EQ(r.key(), 0x05);
    EXPECT_EQ(r.asc(), 0x26);  // INVALID FIELD IN PARAMETER LIST
    EXPECT_EQ(r.field_pointer(), (std::pair<int, int>{0, 4}));
    r = overwrite(0x21, {0x5a});  // TEST field set: no test mode exists
    EXPECT_EQ(r.asc(), 0x26);
    EXPECT_EQ(r.field_pointer(), (std::pair<int, int>{0, 6}));
    EXPECT_TRUE(blocks_hold(0, 0x11)) << "a refused SANITIZE must not touch the medium";
}

TEST_F(SanitizeTest, BlockEraseReadsZeroes) {
    ASSERT_EQ(send({0x48, 0x02, 0, 0, 0, 0, 0, 0, 0, 0}).status(), 0);
    EXPECT_TRUE(blocks_hold(0, 0x00));
    EXPECT_TRUE(blocks_hold((64u << 20) / 512 - 8, 0x00));
    EXPECT_EQ(mem->allocated_bytes(), 0u) << "a block erase of a thin mem LUN gives its memory back";
}

// With IMMED the command completes at once; until the sanitize ends, media access gets NOT READY,
// SANITIZE IN PROGRESS and REQUEST SENSE reports it. Afterwards the data is the pattern.
TEST_F(SanitizeTest, ImmedCompletesFirstAndTheMediumComesBack) {
    ASSERT_EQ(overwrite(0x04, {0xa5}, true).status(), 0);  // 4 passes over 64 MiB
    bool saw_in_progress = false;
    // Bounded by time, not by a count of polls: under TSan the 256 MiB of writes takes long.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(10);
    while (std::chrono::steady_clock::now() < deadline) {
        const Reply tur = send({0x00, 0, 0, 0, 0, 0});
        if (tur.status() == 0) break;
        EXPECT_EQ(tur.key(), 0x02);
        EXPECT_EQ(tur.asc(), 0x04);
        EXPECT_EQ(tur.ascq(), 0x1b);
        saw_in_progress = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(saw_in_progress) << "4 passes over 64 MiB finished before the first TEST UNIT READY";
    EXPECT_EQ(send({0x00, 0, 0, 0, 0, 0}).status(), 0);
    EXPECT_TRUE(blocks_hold(0, 0xa5));
    EXPECT_TRUE(blocks_hold((64u << 20) / 512 - 8, 0xa5));
}

// LunOptions::sanitize_rate paces OVERWRITE: 4 MiB at 8 MiB/s takes at least half a second, with
// the progress REQUEST SENSE reports moving forward meanwhile, and ends with the pattern written.
TEST_F(SanitizeTest, SanitizeRatePacesOverwrite) {
    auto paced = add_paced_lun(4ull << 20, 8ull << 20);
    const auto start = std::chrono::steady_clock::now();
    ASSERT_EQ(overwrite(0x01, {0x3c}, true, 1).status(), 0);
    int last_progress = -1, progress_steps = 0;
    for (;;) {
        const Reply rs = send({0x03, 0, 0, 0, 252, 0}, 1, 252);  // REQUEST SENSE
        ASSERT_EQ(rs.status(), 0);
        ASSERT_GE(rs.data.size(), 18u);
        if (rs.data[12] != 0x04 || rs.data[13] != 0x1b) break;  // no longer SANITIZE IN PROGRESS
        ASSERT_TRUE(rs.data[15] & 0x80) << "progress indication missing";
        const int progress = (rs.data[16] << 8) | rs.data[17];
        EXPECT_GE(progress, last_progress);
        if (progress > last_progress) ++progress_steps;
        last_progress = progress;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, std::chrono::milliseconds(480)) << "4 MiB at 8 MiB/s must take about 0.5 s";
    EXPECT_GE(progress_steps, 3) << "progress should move forward while the paced sanitize runs";
    const Reply r = send({0x28, 0, 0, 0, 0x1f, 0xf8, 0, 0, 8, 0}, 1, 4096);  // the last 8 blocks
    ASSERT_EQ(r.status(), 0);
    for (auto b : r.data) ASSERT_EQ(b, 0x3c);
}

// Shutting the adapter down during a paced sanitize does not wait out the pacing (64 MiB at
// 1 MiB/s would take a minute) and does not leave the medium half sanitized either: the rest is
// written at full speed.
TEST_F(SanitizeTest, ShutdownFinishesAPacedSanitizeAtFullSpeed) {
    auto paced = add_paced_lun(64ull << 20, 1ull << 20);
    ASSERT_EQ(overwrite(0x01, {0x3c}, true, 1).status(), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_LT(paced->allocated_bytes(), 64ull << 20) << "the pacing did not hold the sanitize back";
    const auto start = std::chrono::steady_clock::now();
    nexus.reset();
    adapter.reset();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
    EXPECT_EQ(paced->allocated_bytes(), 64ull << 20) << "every block holds the pattern";
}

// SBC-4 4.11: ABORT TASK and LOGICAL UNIT RESET end a running SANITIZE command but not the
// sanitize operation: the TMF answers within a step (not after the 2 s the overwrite takes), the
// aborted command gets no status, and TEST UNIT READY still reports SANITIZE IN PROGRESS until
// the overwrite is done and the pattern is everywhere.
TEST_F(SanitizeTest, ResetEndsTheCommandButNotTheSanitize) {
    auto paced = add_paced_lun(8ull << 20, 4ull << 20);
    std::vector<std::uint8_t> param{0x01, 0, 0, 1, 0x77};
    Command cmd;
    cmd.nexus = nexus;
    cmd.lun = encode_sam_lun(1);
    cmd.tag = 42;
    const std::uint8_t cdb[10] = {0x48, 0x01, 0, 0, 0, 0, 0, 0, 5, 0};  // SANITIZE OVERWRITE, no IMMED
    std::memcpy(cmd.cdb.data(), cdb, sizeof cdb);
    cmd.cdb_len = 10;
    cmd.dir = DataDirection::write;
    cmd.expected_length = 5;
    cmd.data = std::as_writable_bytes(std::span(param));
    std::promise<Completion> done;
    adapter->submit(cmd, [&](const Completion& c) { done.set_value(c); });
    std::this_thread::sleep_for(std::chrono::milliseconds(200));

    const auto reset_at = std::chrono::steady_clock::now();
    EXPECT_EQ(adapter->task_management(TmfRequest{nexus, TmfFunction::lun_reset, encode_sam_lun(1), 0}),
              TmfResponse::complete);
    EXPECT_LT(std::chrono::steady_clock::now() - reset_at, std::chrono::milliseconds(1500))
        << "the reset waited for the whole sanitize";
    auto f = done.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(1)), std::future_status::ready);
    EXPECT_TRUE(f.get().aborted);

    clear_ua(1);  // the reset's 29h/03h
    const Reply tur = send({0x00, 0, 0, 0, 0, 0}, 1);
    EXPECT_EQ(tur.key(), 0x02);
    EXPECT_EQ(tur.asc(), 0x04);
    EXPECT_EQ(tur.ascq(), 0x1b) << "the sanitize operation must go on after the reset";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    while (send({0x00, 0, 0, 0, 0, 0}, 1).status() != 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_GE(std::chrono::steady_clock::now() - reset_at, std::chrono::milliseconds(1200));
    EXPECT_EQ(paced->allocated_bytes(), 8ull << 20) << "every block holds the pattern";
}

}  // namespace
}  // namespace vstor::test
