// Per-LUN command counters and a latency histogram, updated lock-free on every completion.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>

#include "vstor/adapter.hpp"
#include "vstor/command.hpp"

namespace vstor::scsi {

class LunCounters {
public:
    void record(DataDirection dir, std::uint64_t bytes, bool ok, std::chrono::nanoseconds latency) {
        switch (dir) {
            case DataDirection::read:
                reads_.fetch_add(1, std::memory_order_relaxed);
                bytes_read_.fetch_add(bytes, std::memory_order_relaxed);
                break;
            case DataDirection::write:
                writes_.fetch_add(1, std::memory_order_relaxed);
                bytes_written_.fetch_add(bytes, std::memory_order_relaxed);
                break;
            case DataDirection::none:
                other_.fetch_add(1, std::memory_order_relaxed);
                break;
        }
        if (!ok) errors_.fetch_add(1, std::memory_order_relaxed);
        const auto us = static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count() / 1000, 0));
        // Bucket i holds latencies in [2^(i-1), 2^i) microseconds; bucket 0 is below 1 us.
        const auto bucket = std::min<std::size_t>(std::bit_width(us), kBuckets - 1);
        buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
    }

    LunStats snapshot() const {
        LunStats s;
        s.reads = reads_.load(std::memory_order_relaxed);
        s.writes = writes_.load(std::memory_order_relaxed);
        s.other = other_.load(std::memory_order_relaxed);
        s.bytes_read = bytes_read_.load(std::memory_order_relaxed);
        s.bytes_written = bytes_written_.load(std::memory_order_relaxed);
        s.errors = errors_.load(std::memory_order_relaxed);
        std::array<std::uint64_t, kBuckets> b{};
        std::uint64_t total = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) total += b[i] = buckets_[i].load(std::memory_order_relaxed);
        auto percentile = [&](double q) -> std::uint64_t {
            if (total == 0) return 0;
            const auto want = static_cast<std::uint64_t>(q * static_cast<double>(total - 1)) + 1;
            std::uint64_t seen = 0;
            for (std::size_t i = 0; i < kBuckets; ++i)
                if ((seen += b[i]) >= want) return std::uint64_t{1} << i;
            return std::uint64_t{1} << (kBuckets - 1);
        };
        s.p50_us = percentile(0.50);
        s.p90_us = percentile(0.90);
        s.p99_us = percentile(0.99);
        s.p999_us = percentile(0.999);
        s.max_us = percentile(1.0);
        return s;
    }

private:
    static constexpr std::size_t kBuckets = 40;
    std::atomic<std::uint64_t> reads_{0}, writes_{0}, other_{0}, bytes_read_{0}, bytes_written_{0}, errors_{0};
    std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
};

}  // namespace vstor::scsi
