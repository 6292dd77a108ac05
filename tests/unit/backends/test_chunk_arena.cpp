// The mem backend's chunk memory: slots start zeroed, released slots are reused zeroed, and the
// memory of unmapped chunks leaves the process (RSS), not just the backend's bookkeeping.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <future>
#include <random>
#include <set>
#include <vector>

#include "backends/mem/chunk_arena.hpp"
#include "backends/mem/mem_backend.hpp"
#include "sanitizers.hpp"

namespace vstor::backends {
namespace {

std::size_t rss_bytes() {
    std::ifstream f("/proc/self/statm");
    std::size_t pages = 0, resident = 0;
    f >> pages >> resident;
    return resident * 4096;
}

bool all_zero(const std::byte* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != std::byte{0}) return false;
    return true;
}

TEST(ChunkArena, SlotsAreZeroedDistinctAndReusedZeroed) {
    ChunkArena a(4096);
    std::set<std::byte*> seen;
    std::vector<std::byte*> slots;
    for (int i = 0; i < 1000; ++i) {  // several slabs
        std::byte* p = a.alloc();
        ASSERT_NE(p, nullptr);
        ASSERT_TRUE(all_zero(p, 4096));
        ASSERT_TRUE(seen.insert(p).second) << "slot handed out twice";
        std::memset(p, 0xee, 4096);
        slots.push_back(p);
    }
    // Released but not yet trimmed: reuse must still come back zeroed.
    a.release(slots[10]);
    std::byte* again = a.alloc();
    EXPECT_EQ(again, slots[10]);
    EXPECT_TRUE(all_zero(again, 4096));
    // Released and trimmed (runs of neighbours and lone slots alike).
    for (int i = 100; i < 400; ++i) a.release(slots[i]);
    a.release(slots[700]);
    a.trim();
    for (int i = 0; i < 301; ++i) {
        std::byte* p = a.alloc();
        ASSERT_TRUE(all_zero(p, 4096));
        EXPECT_TRUE(seen.count(p)) << "a trimmed slot is reused before new memory is taken";
    }
}

TEST(ChunkArena, SlotsLargerThanAPage) {
    ChunkArena a(16384);
    std::byte* p = a.alloc();
    std::memset(p, 1, 16384);
    a.release(p);
    a.trim();
    std::byte* q = a.alloc();
    EXPECT_EQ(p, q);
    EXPECT_TRUE(all_zero(q, 16384));
}

// 64 MiB written in 4 KiB pieces at random places, then unmapped: the process gives the memory back.
TEST(MemBackendMemory, UnmappedChunksLeaveTheProcess) {
#if defined(VSTOR_UNDER_ASAN) || defined(VSTOR_UNDER_TSAN)
    GTEST_SKIP() << "RSS includes the sanitizer's shadow memory";
#endif
    MemBackend m(1ull << 30, 512);
    const std::size_t before = rss_bytes();
    std::vector<std::byte> block(4096, std::byte{0x5a});
    std::mt19937_64 rng(7);
    std::set<std::uint64_t> lbas;
    while (lbas.size() < 16384) lbas.insert((rng() % ((1ull << 30) / 4096)) * 8);
    for (auto lba : lbas) m.write(lba, block, false, [](IoStatus s) { ASSERT_EQ(s, IoStatus::ok); });
    const std::size_t written = rss_bytes();
    EXPECT_GE(written, before + (60u << 20)) << "64 MiB of chunks should be resident";
    EXPECT_LE(written, before + (80u << 20)) << "sparse: about what was written, not the LUN";
    m.unmap(0, (1ull << 30) / 512, [](IoStatus s) { ASSERT_EQ(s, IoStatus::ok); });
    EXPECT_EQ(m.allocated_bytes(), 0u);
    EXPECT_LE(rss_bytes(), before + (8u << 20)) << "unmapped chunks must be returned to the kernel";
    // And the LUN reads zeroes where data was.
    std::vector<std::byte> out(4096, std::byte{1});
    m.read(*lbas.begin(), out, [](IoStatus s) { ASSERT_EQ(s, IoStatus::ok); });
    EXPECT_TRUE(all_zero(out.data(), out.size()));
}

// A 1 MiB read across chunks, written and unwritten: the data must be exact.
TEST(MemBackendMemory, LargeReadsCompleteWithTheData) {
    MemBackend m(64ull << 20, 512);
    std::vector<std::byte> data(1u << 20);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 131 + i / 4096);
    m.write(2048, data, false, [](IoStatus s) { ASSERT_EQ(s, IoStatus::ok); });
    for (int round = 0; round < 8; ++round) {
        std::vector<std::byte> out(data.size() + 4096, std::byte{0xee});
        std::promise<IoStatus> done;
        m.read(2048 - 8, out, [&](IoStatus s) { done.set_value(s); });  // 4 KiB of zeroes first
        ASSERT_EQ(done.get_future().get(), IoStatus::ok);
        EXPECT_TRUE(all_zero(out.data(), 4096));
        EXPECT_EQ(std::memcmp(out.data() + 4096, data.data(), data.size()), 0);
    }
}

}  // namespace
}  // namespace vstor::backends
