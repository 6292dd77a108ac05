#include "backends/file/loop_ring.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cstring>

#include "util/event_loops.hpp"

namespace vstor::backends {

LoopRing* LoopRing::here() {
    // Destroyed when the loop's thread ends, after its io_context stopped running: nothing is in
    // flight then, since a watched eventfd keeps the loop running until the last request is reaped.
    thread_local std::unique_ptr<LoopRing> ring;
    thread_local bool tried = false;
    if (tried) return ring.get();
    tried = true;
    asio::io_context* loop = util::EventLoops::current();
    if (!loop) return nullptr;
    const int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0) return nullptr;
    std::unique_ptr<LoopRing> r(new LoopRing(*loop, efd));  // the descriptor now owns efd
    if (const int rc = io_uring_queue_init(kEntries, &r->ring_, 0); rc < 0) {
        spdlog::debug("file: no io_uring for an event loop ({}); using the backend's own", std::strerror(-rc));
        r->ring_.ring_fd = -1;
        return nullptr;
    }
    if (const int rc = io_uring_register_eventfd(&r->ring_, efd); rc < 0) {
        spdlog::debug("file: cannot watch an io_uring from its loop ({})", std::strerror(-rc));
        return nullptr;
    }
    ring = std::move(r);
    return ring.get();
}

LoopRing::LoopRing(asio::io_context& loop, int eventfd) : loop_(loop), event_(loop, eventfd) {
    ring_.ring_fd = -1;
}

LoopRing::~LoopRing() {
    if (ring_.ring_fd >= 0) io_uring_queue_exit(&ring_);
}

template <typename Prep>
bool LoopRing::queue(Prep prep, Done& done) {
    if (in_flight_ >= kMaxInFlight) return false;  // the completion queue could overflow
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) {  // a whole ring queued in one turn: hand it to the kernel now
        if (io_uring_submit(&ring_) >= 0) queued_ = 0;
        sqe = io_uring_get_sqe(&ring_);
        if (!sqe) return false;
    }
    prep(sqe);
    io_uring_sqe_set_data(sqe, new Done(std::move(done)));
    ++queued_;
    ++in_flight_;
    if (!flush_posted_) {
        flush_posted_ = true;  // runs after the handler that queued this one, i.e. at the turn's end
        asio::post(loop_, [this] { flush(); });
    }
    return true;
}

bool LoopRing::read(int fd, void* buf, std::size_t len, off_t off, Done& done) {
    return queue(
        [&](io_uring_sqe* sqe) {
            io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(len), static_cast<__u64>(off));
        },
        done);
}

bool LoopRing::write(int fd, const void* buf, std::size_t len, off_t off, bool dsync, Done& done) {
    return queue(
        [&](io_uring_sqe* sqe) {
            io_uring_prep_write(sqe, fd, buf, static_cast<unsigned>(len), static_cast<__u64>(off));
            if (dsync) sqe->rw_flags = RWF_DSYNC;  // FUA: durable when it completes
        },
        done);
}

void LoopRing::flush() {
    flush_posted_ = false;
    if (queued_) {
        const int rc = io_uring_submit(&ring_);
        if (rc >= 0) {
            queued_ = 0;
        } else {  // EAGAIN/EBUSY: the kernel is short of room; reap, then try again next turn
            flush_posted_ = true;
            asio::post(loop_, [this] { flush(); });
        }
    }
    reap();  // what completed during the submission (data in the page cache) runs now
    watch();
}

void LoopRing::reap() {
    io_uring_cqe* cqe = nullptr;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
        std::unique_ptr<Done> done(static_cast<Done*>(io_uring_cqe_get_data(cqe)));
        const int res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        --in_flight_;
        (*done)(res);
    }
}

void LoopRing::watch() {
    if (watching_ || in_flight_ == 0) return;
    watching_ = true;
    // The kernel bumps the eventfd for every completion it posts, so one that lands between the
    // reap above and this wait still wakes the loop (an eventfd stays readable until read).
    event_.async_wait(asio::posix::stream_descriptor::wait_read, [this](const asio::error_code& ec) {
        watching_ = false;
        if (ec) return;
        eventfd_t n = 0;
        (void)::eventfd_read(event_.native_handle(), &n);
        reap();
        watch();
    });
}

}  // namespace vstor::backends
