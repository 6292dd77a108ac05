// The mem backend's lent reads (read_view): the pieces hold the LUN's bytes, and a chunk that is
// freed while a view still points at it is not reused for other blocks until the view is gone.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "backends/mem_sync.hpp"

namespace vstor::backends {
namespace {

constexpr std::uint32_t kViewBlock = 512;

using test::unmap_sync;
using test::write_sync;

std::vector<std::byte> flatten(const DataView& v) {
    std::vector<std::byte> out;
    for (const auto& p : v.pieces) out.insert(out.end(), p.begin(), p.end());
    return out;
}

std::vector<std::byte> filled(std::size_t n, std::uint8_t value) { return std::vector<std::byte>(n, std::byte{value}); }

TEST(MemBackendViews, ViewHoldsTheWrittenBytesAndZeroesElsewhere) {
    auto m = std::make_shared<MemBackend>(16ull << 20, kViewBlock);
    std::vector<std::byte> data(3u << 20);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte(static_cast<std::uint8_t>(i * 131 + 7) | 1);
    ASSERT_EQ(write_sync(*m, 4096 + 3, data), IoStatus::ok);  // unaligned, across a 2 MiB page
    const std::uint64_t blocks = (8u << 20) / kViewBlock;
    auto view = m->read_view(4096 - 8, blocks);
    ASSERT_TRUE(view);
    const auto got = flatten(*view);
    ASSERT_EQ(got.size(), blocks * kViewBlock);
    std::vector<std::byte> want(blocks * kViewBlock);
    std::memcpy(want.data() + 11 * kViewBlock, data.data(), data.size());
    EXPECT_EQ(got, want);
    // Chunks written in order sit next to each other and go out as few pieces; the unwritten
    // tail is lent from one zero area in 64 KiB pieces.
    EXPECT_LT(view->pieces.size(), 200u);
}

TEST(MemBackendViews, UnownedBackendDoesNotLend) {
    MemBackend m(1u << 20, kViewBlock);  // not owned by a shared_ptr: nothing could keep it alive
    EXPECT_FALSE(m.read_view(0, 8));
}

TEST(MemBackendViews, FreedChunkIsNotReusedWhileAViewHoldsIt) {
    auto m = std::make_shared<MemBackend>(8ull << 20, kViewBlock);
    const std::uint64_t per_chunk = m->chunk_bytes() / kViewBlock;
    ASSERT_EQ(write_sync(*m, 0, filled(m->chunk_bytes(), 0xaa)), IoStatus::ok);
    auto view = m->read_view(0, per_chunk);
    ASSERT_TRUE(view);
    ASSERT_EQ(unmap_sync(*m, 0, per_chunk), IoStatus::ok);
    EXPECT_EQ(m->parked_bytes(), m->chunk_bytes());
    // New writes in the same 2 MiB page (same shard, same arena) must get other memory.
    for (std::uint64_t c = 1; c < 64; ++c)
        ASSERT_EQ(write_sync(*m, c * per_chunk, filled(m->chunk_bytes(), 0x55)), IoStatus::ok);
    EXPECT_EQ(flatten(*view), filled(m->chunk_bytes(), 0xaa));
    view.reset();
    EXPECT_EQ(m->parked_bytes(), 0u);
    EXPECT_EQ(m->allocated_bytes(), 63 * m->chunk_bytes());
}

TEST(MemBackendViews, TooMuchParkedMemoryTurnsLendingOffUntilViewsDrain) {
    auto m = std::make_shared<MemBackend>(128ull << 20, kViewBlock);
    const std::uint64_t blocks = (80ull << 20) / kViewBlock;
    ASSERT_EQ(write_sync(*m, 0, filled(80u << 20, 0x11)), IoStatus::ok);
    auto view = m->read_view(0, 8);
    ASSERT_TRUE(view);
    ASSERT_EQ(unmap_sync(*m, 0, blocks), IoStatus::ok);
    EXPECT_EQ(m->parked_bytes(), 80u << 20);
    EXPECT_FALSE(m->read_view(0, 8));  // reads copy now, so the live views can drain
    view.reset();
    EXPECT_EQ(m->parked_bytes(), 0u);
    EXPECT_EQ(m->allocated_bytes(), 0u);
    EXPECT_TRUE(m->read_view(0, 8));
}

// Readers lend region A over and over while a writer keeps moving A's memory to region B (same
// page, same arena): unmap A, write 0x22 to B, unmap B, write 0x11 to A. A view of A may see
// 0x11 or zeroes, never 0x22: that would be a chunk of A reused for B while the view still
// pointed at it. Two readers, so that views overlap and generations turn over while chunks are
// parked and reclaimed. The writer goes one round per view taken, not by the clock: on a loaded
// machine (TSan, other tests on both cores) a timed loop could end before the readers ran.
TEST(MemBackendViews, ConcurrentUnmapsNeverLeakOtherBlocksIntoAView) {
    auto m = std::make_shared<MemBackend>(4ull << 20, kViewBlock);
    constexpr std::size_t kRegion = 256u << 10;
    constexpr int kRounds = 400;
    const std::uint64_t region_blocks = kRegion / kViewBlock;
    const auto a = filled(kRegion, 0x11), b = filled(kRegion, 0x22);
    ASSERT_EQ(write_sync(*m, 0, a), IoStatus::ok);
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0}, views{0};
    const auto read_views = [&] {
        while (!stop.load()) {
            auto v = m->read_view(0, region_blocks);
            if (!v) continue;
            views.fetch_add(1);
            for (int look = 0; look < 2; ++look) {  // and again after the writer had a turn
                for (const auto& p : v->pieces)
                    for (std::size_t i = 0; i < p.size(); i += 512)
                        if (p[i] == std::byte{0x22}) bad.fetch_add(1);
                std::this_thread::yield();
            }
        }
    };
    std::thread r1(read_views), r2(read_views);
    int parked_rounds = 0;  // rounds whose unmap found a view alive: the case under test
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(2);  // a hang guard only
    for (int round = 0; round < kRounds && std::chrono::steady_clock::now() < deadline; ++round) {
        while (views.load() <= round && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
        // B's write takes the chunks A's unmap just freed, unless a view parked them.
        ASSERT_EQ(unmap_sync(*m, 0, region_blocks), IoStatus::ok);
        if (m->parked_bytes() != 0) ++parked_rounds;
        ASSERT_EQ(write_sync(*m, region_blocks, b), IoStatus::ok);
        std::this_thread::yield();
        ASSERT_EQ(unmap_sync(*m, region_blocks, region_blocks), IoStatus::ok);
        ASSERT_EQ(write_sync(*m, 0, a), IoStatus::ok);
    }
    stop = true;
    r1.join();
    r2.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GE(views.load(), kRounds) << "the readers hardly ran in two minutes";
    EXPECT_GT(parked_rounds, 0) << "no unmap met a live view: the test proved nothing";
    EXPECT_EQ(m->parked_bytes(), 0u);
}

}  // namespace
}  // namespace vstor::backends
