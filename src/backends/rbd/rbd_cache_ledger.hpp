// What a loss of one cluster connection's volatile write cache (librbd's `rbd cache`, WCE=1)
// would take with it: the writes it acknowledged from the cache (no FUA) that no completed flush
// covers yet. A blocklisted connection loses them; the backend then fails the next flush once
// (MEDIUM ERROR, WRITE ERROR), so the initiator does not take them for durable (rbd_recover.cpp).
//
// The connection is retired when a recovery swaps a new one in; a request still in flight on it
// may be acknowledged from its cache afterwards. retire() and acked() are ordered so that such a
// write is never missed: either retire() sees it counted, or acked() sees the connection retired
// and raises the flag itself, before the initiator hears of the write. No lock: acked() runs on
// every cached write (two atomics, as before the flag).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

namespace vstor::backends {

class RbdCacheLedger {
public:
    // `lost`: the backend's flag (shared: a retired connection may outlive the backend).
    void set_lost_flag(std::shared_ptr<std::atomic<bool>> lost) { lost_ = std::move(lost); }
    // librbd writes back from the first write (rbd_conf.cpp), or from the first flush where the
    // conf asks to write through until then.
    void start_writeback() { writeback_.store(true); }
    // A write (no FUA) acknowledged by this connection.
    void acked() {
        if (!writeback_.load()) return;
        cached_.fetch_add(1);
        if (retired_.load() && lost_) lost_->store(true);
    }
    // What a flush started now covers, and what it covered once it completed.
    std::uint64_t flush_covers() const { return cached_.load(); }
    void flushed(std::uint64_t covers) {
        std::uint64_t at = flushed_.load();
        while (at < covers && !flushed_.compare_exchange_weak(at, covers)) {
        }
    }
    // This connection was replaced: how many acknowledged writes its cache may have lost (0:
    // none, then the flag stays as it was; later ones raise it in acked()).
    std::uint64_t retire() {
        retired_.store(true);
        const std::uint64_t cached = cached_.load(), flushed = flushed_.load();
        const std::uint64_t lost = cached > flushed ? cached - flushed : 0;
        if (lost && lost_) lost_->store(true);
        return lost;
    }

private:
    std::shared_ptr<std::atomic<bool>> lost_;
    std::atomic<bool> writeback_{false};
    std::atomic<bool> retired_{false};
    std::atomic<std::uint64_t> cached_{0};
    std::atomic<std::uint64_t> flushed_{0};
};

}  // namespace vstor::backends
