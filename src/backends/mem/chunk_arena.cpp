#include "backends/mem/chunk_arena.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#ifdef _WIN32
#include <windows.h>
#else
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace vstor::backends {

namespace {

constexpr std::size_t kFirstSlabSlots = 64;
constexpr std::size_t kMaxSlabBytes = 64u << 20;
// Fresh slots are prefaulted this much at a time (see prefault()).
constexpr std::size_t kPrefaultBytes = 128u << 10;
// Slabs this large are aligned to and backed by transparent huge pages (see reserve()).
constexpr std::size_t kHugePage = 2u << 20;
constexpr std::size_t kHugeSlabFrom = 4u << 20;

std::size_t page_bytes() {
#ifdef _WIN32
    SYSTEM_INFO si;
    GetSystemInfo(&si);
    return si.dwPageSize;
#else
    return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
#endif
}

// Address space only: pages are taken when first written.
// Slabs of kHugeSlabFrom and more are 2 MiB aligned and asked to be backed by transparent huge
// pages (MADV_HUGEPAGE; THP is "madvise" on Debian). Why: NBD reads lend the LUN's chunks to
// sendmsg, so the kernel is the first to read pages that only user space wrote; on this
// machine's hypervisor that first kernel touch cost ~5 ms per MiB of 4 KiB pages (a 1 MiB read
// cost 6x a warm one) and ~0.2 ms with huge pages, and a 4 KiB random read walks fewer TLB
// levels. Small slabs stay on 4 KiB pages, so a LUN that stores little keeps a small RSS (one
// shard's partly used huge page is at most 2 MiB, against the >= 4 MiB it already stores).
std::byte* reserve(std::size_t bytes) {
#ifdef _WIN32
    return static_cast<std::byte*>(VirtualAlloc(nullptr, bytes, MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE));
#else
    const bool huge = bytes >= kHugeSlabFrom;
    const std::size_t span = huge ? bytes + kHugePage : bytes;
    void* p = ::mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return nullptr;
    auto* raw = static_cast<std::byte*>(p);
    if (!huge) return raw;
    // Keep the 2 MiB aligned `bytes` inside the mapping, unmap the rest.
    const auto addr = reinterpret_cast<std::uintptr_t>(raw);
    auto* base = raw + ((kHugePage - addr % kHugePage) % kHugePage);
    if (base > raw) ::munmap(raw, static_cast<std::size_t>(base - raw));
    if (raw + span > base + bytes) ::munmap(base + bytes, static_cast<std::size_t>(raw + span - (base + bytes)));
#if defined(MADV_HUGEPAGE)
    ::madvise(base, bytes, MADV_HUGEPAGE);  // best effort: without THP the slab uses 4 KiB pages
#endif
    return base;
#endif
}

void unreserve(std::byte* p, std::size_t bytes) {
#ifdef _WIN32
    (void)bytes;
    VirtualFree(p, 0, MEM_RELEASE);
#else
    ::munmap(p, bytes);
#endif
}

// The pages of [p, p+bytes) go back to the system and read as zeroes afterwards.
void give_back(std::byte* p, std::size_t bytes) {
#ifdef _WIN32
    VirtualAlloc(p, bytes, MEM_RESET, PAGE_READWRITE);  // contents become undefined, not zero
    std::memset(p, 0, bytes);
#else
    ::madvise(p, bytes, MADV_DONTNEED);
#endif
}

// Makes [p, p+bytes) resident and writable in one call. A stream of first writes otherwise takes
// one page fault per 4 KiB chunk, and in a VM each fault's exception is costly: on this machine's
// hypervisor the faults were over a quarter of the target's CPU on 4 KiB writes to a fresh LUN.
// Best effort: without MADV_POPULATE_WRITE (Linux < 5.14, Windows) the pages fault in as before.
void prefault(std::byte* p, std::size_t bytes) {
#if defined(MADV_POPULATE_WRITE)
    ::madvise(p, bytes, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)bytes;
#endif
}

}  // namespace

ChunkArena::ChunkArena(std::size_t slot_bytes)
    : slot_(slot_bytes),
      page_multiple_(slot_bytes % page_bytes() == 0),
      next_slab_bytes_(slot_bytes * kFirstSlabSlots) {}

ChunkArena::~ChunkArena() {
    for (const auto& s : slabs_) unreserve(s.base, s.bytes);
}

std::byte* ChunkArena::alloc() {
    if (!clean_.empty()) {
        std::byte* p = clean_.back();
        clean_.pop_back();
        return p;
    }
    if (!dirty_.empty()) {
        std::byte* p = dirty_.back();
        dirty_.pop_back();
        std::memset(p, 0, slot_);
        return p;
    }
    if (bump_ == bump_end_) {
        const std::size_t bytes = next_slab_bytes_;
        std::byte* base = reserve(bytes);
        if (!base) return nullptr;
        slabs_.push_back({base, bytes});
        bump_ = base;
        bump_end_ = base + bytes;
        prefaulted_ = base;
        next_slab_bytes_ = std::max(slot_, std::min(kMaxSlabBytes / slot_ * slot_, bytes * 2));
    }
    std::byte* p = bump_;
    bump_ += slot_;
    if (bump_ > prefaulted_) {
        // At most kPrefaultBytes ahead of what is handed out, so RSS stays near what is stored.
        const std::size_t ahead = std::min<std::size_t>(std::max(kPrefaultBytes, slot_), static_cast<std::size_t>(bump_end_ - p));
        prefault(p, ahead);
        prefaulted_ = p + ahead;
    }
    return p;
}

void ChunkArena::release(std::byte* slot) { dirty_.push_back(slot); }

void ChunkArena::trim() {
    if (dirty_.empty()) return;
    // The prefaulted slots not handed out yet go back too: RSS follows what is stored.
    if (prefaulted_ > bump_) {
        give_back(bump_, static_cast<std::size_t>(prefaulted_ - bump_));
        prefaulted_ = bump_;
    }
    if (!page_multiple_) return;  // cannot give back part of a page: dirty slots get a memset on reuse
    std::sort(dirty_.begin(), dirty_.end());
    std::size_t i = 0;
    while (i < dirty_.size()) {
        std::size_t j = i + 1;
        while (j < dirty_.size() && dirty_[j] == dirty_[j - 1] + slot_) ++j;
        give_back(dirty_[i], (j - i) * slot_);
        i = j;
    }
    clean_.insert(clean_.end(), dirty_.begin(), dirty_.end());
    dirty_.clear();
}

}  // namespace vstor::backends
