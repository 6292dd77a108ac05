// How many connections one listener serves at once, in all and per client address. A listener
// asks admit() for every accepted socket: it gets a slot, which the connection holds for its
// life, or none, and then closes the socket at once. Refusals are counted and logged at most once
// per kLogInterval with the number refused since. Thread-safe: slots are released on whatever
// loop their connection ends on.
#pragma once

#include <asio.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "util/connection_limits.hpp"
#include "util/rate_limiter.hpp"

namespace vstor::util {

class ConnectionLimiter {
    struct State {
        std::mutex mu;  // guards total, per_address
        std::size_t total = 0;
        std::map<asio::ip::address, std::size_t> per_address;
        void release(const asio::ip::address& a) {
            std::lock_guard lk(mu);
            --total;
            if (auto it = per_address.find(a); it != per_address.end() && --it->second == 0) per_address.erase(it);
        }
    };

public:
    static constexpr std::chrono::seconds kLogInterval{10};

    // Held by an admitted connection; gives its place back when destroyed.
    class Slot {
    public:
        Slot() = default;
        Slot(std::shared_ptr<State> s, asio::ip::address a) : state_(std::move(s)), addr_(std::move(a)) {}
        Slot(Slot&& o) noexcept : state_(std::move(o.state_)), addr_(o.addr_) {}
        Slot& operator=(Slot&& o) noexcept {
            if (this != &o) {
                reset();
                state_ = std::move(o.state_);
                addr_ = o.addr_;
            }
            return *this;
        }
        ~Slot() { reset(); }
        explicit operator bool() const { return state_ != nullptr; }

    private:
        void reset() {
            if (state_) state_->release(addr_);
            state_.reset();
        }
        std::shared_ptr<State> state_;
        asio::ip::address addr_;
    };

    // `name` prefixes the log lines ("iscsi", "nbd").
    ConnectionLimiter(std::string name, ConnectionLimits limits)
        : name_(std::move(name)), limits_(limits), state_(std::make_shared<State>()) {}

    // A slot for a connection from `peer`, or an empty one (counted and logged) when a limit is reached.
    Slot admit(asio::ip::address peer) {
        if (peer.is_v6() && peer.to_v6().is_v4_mapped())
            peer = asio::ip::make_address_v4(asio::ip::v4_mapped, peer.to_v6());
        const char* limit = nullptr;
        std::size_t held = 0;
        {
            std::lock_guard lk(state_->mu);
            auto& from_peer = state_->per_address[peer];
            if (limits_.max_connections && state_->total >= limits_.max_connections) {
                limit = "max-connections";
                held = state_->total;
            } else if (limits_.max_per_address && from_peer >= limits_.max_per_address) {
                limit = "max-connections-per-address";
                held = from_peer;
            }
            if (!limit) {
                ++state_->total;
                ++from_peer;
                return Slot(state_, peer);
            }
            if (from_peer == 0) state_->per_address.erase(peer);
        }
        const auto refused = refused_.fetch_add(1, std::memory_order_relaxed) + 1;
        std::uint64_t suppressed = 0;
        if (log_limit_.allow(&suppressed))
            spdlog::warn("{}: refused a connection from {}: {} connections held, the {} limit{}; {} refused in all",
                         name_, peer.to_string(), held, limit,
                         suppressed ? fmt::format(" ({} more refused since the last report)", suppressed) : "",
                         refused);
        return Slot();
    }

    // Connections refused so far.
    std::uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }
    // Connections holding a slot now.
    std::size_t held() const {
        std::lock_guard lk(state_->mu);
        return state_->total;
    }

private:
    const std::string name_;
    const ConnectionLimits limits_;
    std::shared_ptr<State> state_;
    std::atomic<std::uint64_t> refused_{0};
    RateLimiter log_limit_{kLogInterval};
};

using ConnectionSlot = ConnectionLimiter::Slot;

}  // namespace vstor::util
