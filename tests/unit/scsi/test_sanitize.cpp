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
    Reply overwrite(std::uint8_t flags, std::vector<std::uint8_t> pattern, bool immed = false) {
        std::vector<std::uint8_t> param{flags, 0, 0, static_cast<std::uint8_t>(pattern.size())};
        param.insert(param.end(), pattern.begin(), pattern.end());
        const auto len = static_cast<std::uint8_t>(param.size());
        return send({0x48, static_cast<std::uint8_t>(0x01 | (immed ? 0x80 : 0)), 0, 0, 0, 0, 0, 0, len, 0}, 0, 0,
                    param);
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
    ASSERT_EQ(overwrite(0x10, {0xa5}, true).status(), 0);  // 16 passes over 64 MiB
    bool saw_in_progress = false;
    for (int i = 0; i < 2000; ++i) {
        const Reply tur = send({0x00, 0, 0, 0, 0, 0});
        if (tur.status() == 0) break;
        EXPECT_EQ(tur.key(), 0x02);
        EXPECT_EQ(tur.asc(), 0x04);
        EXPECT_EQ(tur.ascq(), 0x1b);
        saw_in_progress = true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_TRUE(saw_in_progress) << "16 passes over 64 MiB finished before the first TEST UNIT READY";
    EXPECT_EQ(send({0x00, 0, 0, 0, 0, 0}).status(), 0);
    EXPECT_TRUE(blocks_hold(0, 0xa5));
    EXPECT_TRUE(blocks_hold((64u << 20) / 512 - 8, 0xa5));
}

}  // namespace
}  // namespace vstor::test
