// The accept loop every listener runs (iSCSI portals, NBD, the control socket, metrics): it
// accepts one connection after the other and hands each to `on_accept`. A failed accept never
// ends the loop and never makes it spin: when the process is out of descriptors (EMFILE, ENFILE)
// or kernel memory, accepting again at once fails again at once, so the loop waits `backoff` on
// a timer (its event loop keeps serving the open connections meanwhile) and tries again; it
// resumes by itself once descriptors are freed. The failure is logged at most once per
// kLogInterval, with the number of failures not logged since.
#pragma once

#include <asio.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>

#include "util/rate_limiter.hpp"

namespace vstor::util {

inline constexpr std::chrono::milliseconds kAcceptBackoff{100};

template <class Protocol>
class AcceptLoop {
public:
    using Acceptor = asio::basic_socket_acceptor<Protocol>;
    using Socket = asio::basic_stream_socket<Protocol>;
    using OnAccept = std::function<void(Socket)>;
    // The executor a new connection lives on (a server's next event loop); empty: the acceptor's.
    using PickExecutor = std::function<asio::any_io_executor()>;
    static constexpr std::chrono::seconds kLogInterval{10};

    // `name` prefixes the log lines ("iscsi", "nbd", "control", "metrics").
    AcceptLoop(Acceptor& acceptor, std::string name, OnAccept on_accept, PickExecutor pick = {},
               std::chrono::milliseconds backoff = kAcceptBackoff)
        : acceptor_(acceptor),
          timer_(acceptor.get_executor()),
          name_(std::move(name)),
          on_accept_(std::move(on_accept)),
          pick_(std::move(pick)),
          backoff_(backoff) {}
    AcceptLoop(const AcceptLoop&) = delete;
    AcceptLoop& operator=(const AcceptLoop&) = delete;

    // Starts accepting; call before the acceptor's loop runs, or on it.
    void start() { accept_one(); }

    // Any thread: no connection is handed over after this returns; the acceptor is closed and a
    // pending back-off cancelled on the acceptor's loop (which must still run, or be destroyed).
    void stop() {
        if (stopped_.exchange(true)) return;
        asio::post(acceptor_.get_executor(), [this] {
            asio::error_code ignored;
            acceptor_.close(ignored);
            timer_.cancel();
        });
    }

    std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

private:
    void accept_one() {
        if (stopped_) return;
        auto handler = [this](std::error_code ec, Socket sock) {
            if (stopped_ || ec == asio::error::operation_aborted) return;
            if (ec) return on_error(ec);
            on_accept_(std::move(sock));
            accept_one();
        };
        if (pick_)
            acceptor_.async_accept(pick_(), std::move(handler));
        else
            acceptor_.async_accept(std::move(handler));
    }

    void on_error(const std::error_code& ec) {
        failures_.fetch_add(1, std::memory_order_relaxed);
        // A connection that was reset before it was accepted says nothing about this process.
        const bool transient = ec == asio::error::connection_aborted || ec == asio::error::interrupted ||
                               ec == asio::error::would_block || ec == asio::error::try_again;
        std::uint64_t suppressed = 0;
        if (!transient && log_limit_.allow(&suppressed))
            spdlog::warn("{}: accept failed: {}; retrying every {} ms{}", name_, ec.message(), backoff_.count(),
                         suppressed ? fmt::format(" ({} failures since the last report)", suppressed) : "");
        if (transient) return accept_one();
        timer_.expires_after(backoff_);
        timer_.async_wait([this](std::error_code tec) {
            if (tec || stopped_) return;
            accept_one();
        });
    }

    Acceptor& acceptor_;
    asio::steady_timer timer_;
    const std::string name_;
    OnAccept on_accept_;
    PickExecutor pick_;
    const std::chrono::milliseconds backoff_;
    std::atomic<bool> stopped_{false};
    std::atomic<std::uint64_t> failures_{0};
    RateLimiter log_limit_{kLogInterval};
};

}  // namespace vstor::util
