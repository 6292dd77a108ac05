// Memory for the mem backend's chunks: large anonymous mappings handed out in fixed-size slots.
//
// Why not new[]: every first write to a 4 KiB chunk paid malloc, a 4 KiB memset and, in the
// loop threads' malloc arenas, an mprotect that grows the heap (a tenth of vstor's CPU on a
// stream of first writes). Here a fresh slot is just a pointer bump in a reserved mapping whose
// pages the kernel zero-fills on first touch, and a freed slot's pages go back to the kernel
// (madvise DONTNEED, batched over runs of neighbouring slots), so the process's memory follows
// what the LUN stores — which glibc's free() of small blocks does not do.
//
// Not thread-safe: each shard of the backend owns one and uses it under the shard's lock.
#pragma once

#include <cstddef>
#include <vector>

namespace vstor::backends {

class ChunkArena {
public:
    explicit ChunkArena(std::size_t slot_bytes);
    ~ChunkArena();
    ChunkArena(const ChunkArena&) = delete;
    ChunkArena& operator=(const ChunkArena&) = delete;

    // A zero-filled slot, or nullptr when no memory can be reserved.
    std::byte* alloc();
    // The slot may be reused; its memory is given back at the next trim().
    void release(std::byte* slot);
    // Gives the memory of released slots back to the kernel (one madvise per run of adjacent
    // slots) and makes them reusable without a memset.
    void trim();

    std::size_t slot_bytes() const { return slot_; }

private:
    struct Slab {
        std::byte* base;
        std::size_t bytes;
    };
    const std::size_t slot_;
    const bool page_multiple_;         // slots can be given back page by page
    std::vector<Slab> slabs_;
    std::byte* bump_ = nullptr;        // next never-used slot of the newest slab
    std::byte* bump_end_ = nullptr;
    std::byte* prefaulted_ = nullptr;  // end of the newest slab's prefaulted part
    std::size_t next_slab_bytes_;      // slabs double up to a cap, so few mappings are made
    std::vector<std::byte*> clean_;    // released and given back: reads as zeroes
    std::vector<std::byte*> dirty_;    // released, still holding old data
};

}  // namespace vstor::backends
