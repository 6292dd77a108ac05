#include "backends/mem/mem_backend.hpp"

#include <algorithm>
#include <cstring>

namespace vstor::backends {

MemBackend::MemBackend(std::uint64_t size_bytes, std::uint32_t block_size, bool read_only)
    : block_size_(block_size),
      chunk_bytes_(std::max<std::size_t>(kMinChunkBytes, block_size)),
      read_only_(read_only),
      blocks_(size_bytes / block_size) {
    for (auto& sh : shards_) sh.arena.emplace(chunk_bytes_);
}

BackendCaps MemBackend::caps() const {
    BackendCaps c;
    c.read_only = read_only_;
    c.thin = true;
    c.allocation_status = true;
    return c;
}

void MemBackend::read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) {
    for_each_piece(lba * block_size_, buf.size(), [&](std::uint64_t chunk, std::size_t in, std::size_t pos,
                                                      std::size_t n) {
        auto& sh = shard(chunk);
        std::lock_guard lk(sh.mu);
        auto it = sh.chunks.find(chunk);
        if (it == sh.chunks.end())
            std::memset(buf.data() + pos, 0, n);
        else
            std::memcpy(buf.data() + pos, it->second + in, n);
        return true;
    });
    done(IoStatus::ok);
}

void MemBackend::write(std::uint64_t lba, std::span<const std::byte> buf, bool, IoCallback done) {
    if (read_only_) return done(IoStatus::read_only);
    const bool ok = for_each_piece(lba * block_size_, buf.size(), [&](std::uint64_t chunk, std::size_t in,
                                                                      std::size_t pos, std::size_t n) {
        auto& sh = shard(chunk);
        std::lock_guard lk(sh.mu);
        auto& c = sh.chunks[chunk];
        if (!c) {
            c = sh.arena->alloc();  // zero-filled
            if (!c) {
                sh.chunks.erase(chunk);
                return false;
            }
        }
        std::memcpy(c + in, buf.data() + pos, n);
        return true;
    });
    done(ok ? IoStatus::ok : IoStatus::no_space);
}

void MemBackend::zero_range(std::uint64_t off, std::uint64_t len) {
    static_assert(kShards <= 64);
    std::uint64_t released = 0;  // shards that released a chunk
    for_each_piece(off, len, [&](std::uint64_t chunk, std::size_t in, std::size_t, std::size_t n) {
        auto& sh = shard(chunk);
        std::lock_guard lk(sh.mu);
        auto it = sh.chunks.find(chunk);
        if (it == sh.chunks.end()) return true;
        if (n == chunk_bytes_) {
            sh.arena->release(it->second);
            sh.chunks.erase(it);
            released |= std::uint64_t{1} << (chunk % kShards);
        } else {
            std::memset(it->second + in, 0, n);
        }
        return true;
    });
    // The memory goes back once per call, in runs of neighbouring slots.
    for (std::size_t i = 0; i < kShards; ++i) {
        if (!(released >> i & 1)) continue;
        std::lock_guard lk(shards_[i].mu);
        shards_[i].arena->trim();
    }
}

void MemBackend::unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (read_only_) return done(IoStatus::read_only);
    zero_range(lba * block_size_, count * block_size_);
    done(IoStatus::ok);
}

void MemBackend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    unmap(lba, count, std::move(done));  // unmapped blocks read as zeroes
}

std::vector<Extent> MemBackend::allocation_status(std::uint64_t lba, std::uint64_t count) {
    std::vector<Extent> out;
    const std::uint64_t blocks_per_chunk = chunk_bytes_ / block_size_;
    std::uint64_t cur = lba;
    const std::uint64_t end = lba + count;
    while (cur < end) {
        const std::uint64_t chunk = cur / blocks_per_chunk;
        const std::uint64_t chunk_end = std::min(end, (chunk + 1) * blocks_per_chunk);
        bool mapped;
        {
            auto& sh = shard(chunk);
            std::lock_guard lk(sh.mu);
            mapped = sh.chunks.count(chunk) != 0;
        }
        if (!out.empty() && out.back().mapped == mapped)
            out.back().count += chunk_end - cur;
        else
            out.push_back(Extent{cur, chunk_end - cur, mapped});
        cur = chunk_end;
    }
    return out;
}

IoStatus MemBackend::resize(std::uint64_t new_block_count) {
    const std::uint64_t old = blocks_.load();
    if (new_block_count < old) zero_range(new_block_count * block_size_, (old - new_block_count) * block_size_);
    blocks_.store(new_block_count, std::memory_order_release);
    return IoStatus::ok;
}

std::size_t MemBackend::allocated_bytes() const {
    std::size_t n = 0;
    for (const auto& sh : shards_) {
        std::lock_guard lk(sh.mu);
        n += sh.chunks.size() * chunk_bytes_;
    }
    return n;
}

}  // namespace vstor::backends
