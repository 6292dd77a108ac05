// An io_uring per event-loop thread, reaped on that loop: a read or write that a file LUN gets on
// a connection's loop (and cannot finish inline) completes on the same loop, with no reaper
// thread between the kernel and the loop. The ring's eventfd is one more descriptor in the
// loop's epoll, watched only while requests are in flight (so a loop with nothing left to do
// still ends), and the requests queued during one turn of the loop go to the kernel together,
// in one io_uring_enter at the end of the turn.
// Threads that run no EventLoops loop (engine workers, an embedder's own) get no ring: the
// backend then uses its own UringQueue (uring_queue.hpp) or its worker threads.
#pragma once

#include <liburing.h>
#include <sys/types.h>

#include <asio.hpp>

#include <cstddef>
#include <memory>

#include "backends/file/uring_queue.hpp"

namespace vstor::backends {

class LoopRing {
public:
    using Done = UringQueue::Done;

    // This thread's ring, made on first use; null off a loop or where io_uring is unavailable.
    static LoopRing* here();
    ~LoopRing();
    LoopRing(const LoopRing&) = delete;
    LoopRing& operator=(const LoopRing&) = delete;

    // Each returns false (leaving `done` untouched) when the ring has as many requests as it
    // takes: the caller then does the I/O another way. `done` runs later on this loop, never
    // inside the call.
    bool read(int fd, void* buf, std::size_t len, off_t off, Done& done);
    bool write(int fd, const void* buf, std::size_t len, off_t off, bool dsync, Done& done);

private:
    LoopRing(asio::io_context& loop, int eventfd);
    template <typename Prep>
    bool queue(Prep prep, Done& done);
    void flush();  // end of the loop turn: submit what was queued, run what completed, watch
    void reap();
    void watch();

    static constexpr unsigned kEntries = 256;
    static constexpr unsigned kMaxInFlight = 2 * kEntries;  // the completion queue's size

    io_uring ring_{};
    asio::io_context& loop_;
    asio::posix::stream_descriptor event_;
    unsigned queued_ = 0;     // prepared, not yet submitted
    unsigned in_flight_ = 0;  // queued or submitted, not yet reaped
    bool flush_posted_ = false;
    bool watching_ = false;
};

}  // namespace vstor::backends
