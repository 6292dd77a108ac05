// The event-loop threads of a network server (iSCSI, NBD): one io_context per thread, so the
// handlers of a connection, which lives on one loop, never run on two threads at once. New
// connections are spread over the loops round-robin.
#pragma once

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

namespace vstor::util {

class EventLoops {
public:
    // `count` 0: one loop per core.
    explicit EventLoops(unsigned count) {
        const unsigned n = count ? count : std::max(1u, std::thread::hardware_concurrency());
        for (unsigned i = 0; i < n; ++i) {
            loops_.push_back(std::make_unique<asio::io_context>(1));
            guards_.push_back(asio::make_work_guard(*loops_.back()));
        }
    }
    ~EventLoops() { join(); }
    EventLoops(const EventLoops&) = delete;
    EventLoops& operator=(const EventLoops&) = delete;

    asio::io_context& first() { return *loops_.front(); }  // listeners live here

    // The loop this thread runs (a thread of some EventLoops), else null: lets a backend called
    // on a connection's loop finish its I/O on that loop (src/backends/file/loop_ring.*).
    static asio::io_context* current() { return current_; }
    asio::io_context& next() { return *loops_[next_++ % loops_.size()]; }

    // One thread per loop.
    void start() {
        for (auto& loop : loops_)
            threads_.emplace_back([l = loop.get()] {
                current_ = l;
                l->run();
            });
    }
    // Lets every loop finish the work queued on it (closing sockets, posted completions) and
    // joins the threads. Idempotent.
    void join() {
        guards_.clear();
        for (auto& t : threads_) t.join();
        threads_.clear();
    }

private:
    static inline thread_local asio::io_context* current_ = nullptr;
    std::vector<std::unique_ptr<asio::io_context>> loops_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
    std::vector<std::thread> threads_;
    std::atomic<std::size_t> next_{0};
};

}  // namespace vstor::util
