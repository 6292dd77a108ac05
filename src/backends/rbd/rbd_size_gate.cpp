#include "backends/rbd/rbd_size_gate.hpp"

#include <algorithm>
#include <utility>

namespace vstor::backends {

std::vector<RbdSizeGate::Waiter> RbdSizeGate::settled(std::uint64_t upto) {
    std::vector<Waiter> out;
    const auto first = std::stable_partition(waiters_.begin(), waiters_.end(),
                                             [upto](const Waiter& w) { return w.change > upto; });
    std::move(first, waiters_.end(), std::back_inserter(out));
    waiters_.erase(first, waiters_.end());
    return out;
}

void RbdSizeGate::read(std::uint64_t upto, std::uint64_t bytes) {
    std::vector<Waiter> go;
    {
        std::lock_guard lk(mu_);
        // Two readers (the size watch, a local resize) may finish out of order: the one that
        // covers more changes read later, and wins.
        if (upto < read_.load(std::memory_order_acquire)) return;
        bytes_.store(bytes, std::memory_order_release);
        read_.store(upto, std::memory_order_release);
        go = settled(upto);
    }
    for (auto& w : go) w.then(verdict(bytes, w.end));  // outside the lock: `then` completes I/O
}

void RbdSizeGate::read_failed(std::uint64_t upto) {
    std::vector<Waiter> go;
    {
        std::lock_guard lk(mu_);
        // Later completions go by the size read last (as the engine does): no read is coming
        // before the next header change.
        if (upto > read_.load(std::memory_order_acquire)) read_.store(upto, std::memory_order_release);
        go = settled(upto);
    }
    for (auto& w : go) w.then(Verdict::unknown);
}

void RbdSizeGate::close() {
    std::vector<Waiter> go;
    {
        std::lock_guard lk(mu_);
        closed_ = true;
        go.swap(waiters_);
    }
    for (auto& w : go) w.then(Verdict::unknown);
}

void RbdSizeGate::wait(std::uint64_t end, Then then) {
    Verdict v = Verdict::unknown;
    {
        std::lock_guard lk(mu_);  // read() settles under it: no waiter is added after its read
        const auto c = changes_.load(std::memory_order_acquire);
        if (read_.load(std::memory_order_acquire) != c) {
            if (!closed_) return waiters_.push_back(Waiter{c, end, std::move(then)});
        } else {
            v = verdict(bytes_.load(std::memory_order_acquire), end);
        }
    }
    then(v);
}

}  // namespace vstor::backends
