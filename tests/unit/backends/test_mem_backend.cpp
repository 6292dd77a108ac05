// The mem backend against a plain byte array: random writes, unmaps and reads that straddle
// chunks and the 2 MiB pages of chunk slots must read back exactly what the model holds, report
// the same allocation, and give every chunk back once all is unmapped.
#include <gtest/gtest.h>

#include <cstring>
#include <iterator>
#include <random>
#include <vector>

#include "backends/mem_sync.hpp"

namespace vstor::backends {
namespace {

constexpr std::uint64_t kBytes = 8ull << 20;  // four pages of 512 × 4 KiB chunks
constexpr std::uint32_t kBlock = 512;

using test::read_sync;
using test::unmap_sync;
using test::write_sync;

TEST(MemBackend, RandomIoAcrossPagesMatchesAByteArray) {
    MemBackend m(kBytes, kBlock);
    std::vector<std::byte> model(kBytes);
    std::vector<bool> allocated(kBytes / m.chunk_bytes());
    std::mt19937_64 rng(7);
    const std::uint64_t blocks = kBytes / kBlock;
    for (int op = 0; op < 3000; ++op) {
        // Lengths up to 3 MiB so some calls cross two page boundaries.
        const std::uint64_t n = 1 + rng() % (rng() % 4 == 0 ? 6144 : 64);
        const std::uint64_t lba = rng() % (blocks - n + 1);
        const std::size_t off = lba * kBlock, len = n * kBlock;
        switch (rng() % 3) {
            case 0: {
                std::vector<std::byte> data(len);
                for (std::size_t i = 0; i < len; i += 8) {
                    const std::uint64_t v = rng() | 0x0101010101010101ull;  // no zero byte
                    std::memcpy(data.data() + i, &v, 8);
                }
                ASSERT_EQ(write_sync(m, lba, data), IoStatus::ok);
                std::memcpy(model.data() + off, data.data(), len);
                for (std::size_t c = off / m.chunk_bytes(); c <= (off + len - 1) / m.chunk_bytes(); ++c) allocated[c] = true;
                break;
            }
            case 1: {
                ASSERT_EQ(unmap_sync(m, lba, n), IoStatus::ok);
                std::memset(model.data() + off, 0, len);
                // Whole chunks go; a partly unmapped chunk stays, zeroed where unmapped.
                for (std::size_t c = (off + m.chunk_bytes() - 1) / m.chunk_bytes(); (c + 1) * m.chunk_bytes() <= off + len; ++c)
                    allocated[c] = false;
                break;
            }
            default: {
                std::vector<std::byte> out(len, std::byte{0xee});
                ASSERT_EQ(read_sync(m, lba, out), IoStatus::ok);
                ASSERT_EQ(std::memcmp(out.data(), model.data() + off, len), 0) << "op " << op << " lba " << lba;
            }
        }
    }
    std::size_t expect_bytes = 0;
    for (bool a : allocated) expect_bytes += a ? m.chunk_bytes() : 0;
    EXPECT_EQ(m.allocated_bytes(), expect_bytes);
    // GET LBA STATUS view: one extent list over the whole LUN, in order, matching the chunks.
    const auto extents = m.allocation_status(0, blocks);
    std::uint64_t next = 0;
    for (const auto& e : extents) {
        ASSERT_EQ(e.lba, next);
        for (std::uint64_t b = e.lba; b < e.lba + e.count; ++b)
            ASSERT_EQ(allocated[b * kBlock / m.chunk_bytes()], e.mapped) << "block " << b;
        next = e.lba + e.count;
    }
    EXPECT_EQ(next, blocks);
    // Everything unmapped: no chunk (and no page of slots) is left.
    ASSERT_EQ(unmap_sync(m, 0, blocks), IoStatus::ok);
    EXPECT_EQ(m.allocated_bytes(), 0u);
    std::vector<std::byte> out(kBytes, std::byte{0xee});
    ASSERT_EQ(read_sync(m, 0, out), IoStatus::ok);
    for (std::size_t i = 0; i < out.size(); i += 4096) ASSERT_EQ(out[i], std::byte{0}) << "byte " << i;
}

// Pages far apart on a large sparse LUN land in different blocks of a shard's page table
// (a block holds 512 of a shard's pages, 64 GiB of LUN): each reads back what was written there
// and nothing of the others, and unmapping gives every chunk back.
TEST(MemBackend, PagesFarApartOnALargeSparseLun) {
    constexpr std::uint64_t kLun = 1ull << 40;  // 1 TiB, nothing allocated up front
    MemBackend m(kLun, kBlock);
    const std::uint64_t offsets[] = {0, 64ull << 30, (64ull << 30) + (2u << 20), 700ull << 30, kLun - 4096};
    for (std::size_t i = 0; i < std::size(offsets); ++i) {
        std::vector<std::byte> data(4096, static_cast<std::byte>(i + 1));
        ASSERT_EQ(write_sync(m, offsets[i] / kBlock, data), IoStatus::ok);
    }
    EXPECT_EQ(m.allocated_bytes(), std::size(offsets) * m.chunk_bytes());
    for (std::size_t i = 0; i < std::size(offsets); ++i) {
        std::vector<std::byte> out(8192, std::byte{0xee});  // the written chunk, or the one before
        const std::uint64_t at = offsets[i] >= 4096 ? offsets[i] - 4096 : offsets[i];
        ASSERT_EQ(read_sync(m, at / kBlock, out), IoStatus::ok);
        const std::size_t start = offsets[i] - at;
        for (std::size_t b = 0; b < out.size(); ++b)
            ASSERT_EQ(out[b], b >= start && b < start + 4096 ? static_cast<std::byte>(i + 1) : std::byte{0})
                << "offset " << offsets[i] << " byte " << b;
    }
    for (const std::uint64_t off : offsets) ASSERT_EQ(unmap_sync(m, off / kBlock, 4096 / kBlock), IoStatus::ok);
    EXPECT_EQ(m.allocated_bytes(), 0u);
}

}  // namespace
}  // namespace vstor::backends
