// Sparse RAM disk: memory is taken on first write in fixed chunks and given back on unmap.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "backends/mem/chunk_arena.hpp"
#include "backends/mem/page_table.hpp"
#include "vstor/backend.hpp"

namespace vstor::backends {

class MemBackend final : public Backend, public std::enable_shared_from_this<MemBackend> {
public:
    // Allocation unit: 4 KiB (or one block if larger), so that scattered small writes cost about
    // what they write — 100 MiB of random 4 KiB writes take ~100 MiB, not the whole LUN.
    static constexpr std::size_t kMinChunkBytes = 4096;
    std::size_t chunk_bytes() const { return chunk_bytes_; }

    MemBackend(std::uint64_t size_bytes, std::uint32_t block_size = 512, bool read_only = false);

    std::string kind() const override { return "mem"; }
    std::uint32_t block_size() const override { return block_size_; }
    std::uint64_t block_count() const override { return blocks_.load(std::memory_order_acquire); }
    BackendCaps caps() const override;

    void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) override;
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) override;
    void flush(IoCallback done) override { done(IoStatus::ok); }
    void unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) override;
    void write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) override;
    std::vector<Extent> allocation_status(std::uint64_t lba, std::uint64_t count) override;
    IoStatus resize(std::uint64_t new_block_count) override;
    // Lends the chunks themselves (unwritten ones as a shared zero area); only when this
    // backend is owned by a shared_ptr, which the view keeps alive.
    std::shared_ptr<const DataView> read_view(std::uint64_t lba, std::uint64_t count) override;

    std::size_t allocated_bytes() const;
    // Chunks freed while views were alive, not yet reusable (see pins_).
    std::size_t parked_bytes() const { return parked_bytes_.load(); }

private:
    // Chunk pointers live in pages of kChunksPerPage slots (2 MiB of LUN with 4 KiB chunks), and
    // pages are spread over shards so concurrent I/O to different regions does not contend. A
    // large read or write takes one lock and one lookup per page, not per 4 KiB chunk (which was
    // a tenth of the target's CPU on 1 MiB reads).
    static constexpr std::size_t kChunksPerPage = 512;
    struct Page {
        std::array<std::byte*, kChunksPerPage> slot{};  // nullptr = never written or unmapped
        std::size_t used = 0;                           // non-null slots
    };
    struct Shard {
        mutable std::mutex mu;  // guards pages and arena
        PageTable<Page> pages{kShards};  // page number -> page
        std::optional<ChunkArena> arena;
        std::vector<std::pair<std::byte*, std::uint32_t>> parked;  // chunk, generation when freed
    };
    static constexpr std::size_t kShards = 64;  // zero_range keeps one bit per shard in a uint64
    Shard& shard(std::uint64_t page) const { return shards_[page % kShards]; }
    // One chunk-sized piece of a byte range: its chunk's slot in a page, where in the chunk it
    // starts, where in the range, and how long it is.
    struct Piece {
        std::size_t slot;
        std::size_t in;
        std::size_t pos;
        std::size_t n;
    };
    // Calls fn(shard, page number, pieces) for each page the byte range [off, off+len) touches,
    // in order, with that page's shard locked, until fn returns false; returns whether all ran.
    template <class Fn>
    bool for_each_page(std::uint64_t off, std::uint64_t len, Fn&& fn) const {
        const std::uint64_t page_bytes = chunk_bytes_ * kChunksPerPage;
        std::array<Piece, kChunksPerPage> pieces;
        for (std::uint64_t pos = 0; pos < len;) {
            const std::uint64_t page = (off + pos) / page_bytes;
            std::size_t count = 0;
            while (pos < len && (off + pos) / page_bytes == page) {
                const std::uint64_t at = off + pos;
                const std::size_t in = static_cast<std::size_t>(at % chunk_bytes_);
                const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes_ - in, len - pos));
                pieces[count++] = Piece{static_cast<std::size_t>(at / chunk_bytes_ % kChunksPerPage), in,
                                        static_cast<std::size_t>(pos), n};
                pos += n;
            }
            auto& sh = shard(page);
            std::lock_guard lk(sh.mu);
            if (!fn(sh, page, std::span<const Piece>(pieces.data(), count))) return false;
        }
        return true;
    }
    // The read side of for_each_page: fn(chunk or nullptr if never written, piece) for every
    // piece of [off, off+len), in order, with its shard locked.
    template <class Fn>
    void for_each_stored(std::uint64_t off, std::uint64_t len, Fn&& fn) const {
        for_each_page(off, len, [&](Shard& sh, std::uint64_t page, std::span<const Piece> pieces) {
            const Page* pg = sh.pages.find(page);
            for (const Piece& p : pieces) fn(pg ? pg->slot[p.slot] : nullptr, p);
            return true;
        });
    }
    // Zero [offset, offset+len) of the device: whole chunks are freed, partial ones zeroed.
    void zero_range(std::uint64_t offset, std::uint64_t len);

    // Lending. A lent chunk must not be reused for other blocks while its view lives, or a view
    // could send blocks the client never asked for. pins_ holds (generation << 32 | views alive).
    // A chunk freed while views are alive is parked with the generation of that moment instead
    // of going back to the arena; the generation moves on only when the count of live views
    // reaches zero, so a parked chunk of an older generation is in no view and can be reused.
    // A reader sees a chunk only under its shard's lock, after pinning, so a free that follows
    // (under the same lock) sees the pin.
    struct LentView;
    static constexpr std::uint64_t kOneView = 1;
    static bool no_views(std::uint64_t pins) { return (pins & 0xffffffffu) == 0; }
    static constexpr std::size_t kMaxParkedBytes = std::size_t{64} << 20;  // then reads copy until views drain
    void unpin();
    // Under sh.mu: the chunk goes back to the arena (true), or is parked (false).
    bool release_chunk(Shard& sh, std::byte* chunk);
    void reclaim_parked();

    const std::uint32_t block_size_;
    const std::size_t chunk_bytes_;
    const bool read_only_;
    std::atomic<std::uint64_t> blocks_;
    std::atomic<std::uint64_t> pins_{0};
    std::atomic<std::size_t> parked_bytes_{0};
    mutable std::array<Shard, kShards> shards_;
};

}  // namespace vstor::backends
