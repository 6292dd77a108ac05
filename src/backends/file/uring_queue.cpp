#include "backends/file/uring_queue.hpp"

#include <cstring>

namespace vstor::backends {

namespace {
// user_data of the NOP that tells the reaper to stop (real requests carry a heap pointer).
constexpr std::uint64_t kStop = 1;
}  // namespace

std::unique_ptr<UringQueue> UringQueue::create(unsigned entries, std::string& error) {
    std::unique_ptr<UringQueue> q(new UringQueue());
    if (const int rc = io_uring_queue_init(entries, &q->ring_, 0); rc < 0) {
        error = std::string("io_uring unavailable: ") + std::strerror(-rc);
        q.release();  // nothing to tear down; the ring was not set up
        return nullptr;
    }
    q->reaper_ = std::thread([p = q.get()] { p->reap(); });
    return q;
}

UringQueue::~UringQueue() {
    if (!reaper_.joinable()) return;
    for (;;) {  // the stop NOP must get in even if the ring is momentarily full
        std::lock_guard lk(mu_);
        if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
            io_uring_prep_nop(sqe);
            io_uring_sqe_set_data64(sqe, kStop);
            io_uring_submit(&ring_);
            break;
        }
        io_uring_submit(&ring_);
    }
    reaper_.join();
    io_uring_queue_exit(&ring_);
}

template <typename Prep>
bool UringQueue::submit(Prep prep, Done& done) {
    std::lock_guard lk(mu_);
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (!sqe) return false;
    prep(sqe);
    io_uring_sqe_set_data(sqe, new Done(std::move(done)));
    submitted_.fetch_add(1, std::memory_order_release);
    io_uring_submit(&ring_);
    return true;
}

bool UringQueue::read(int fd, void* buf, std::size_t len, off_t off, Done& done) {
    return submit([&](io_uring_sqe* sqe) { io_uring_prep_read(sqe, fd, buf, static_cast<unsigned>(len), static_cast<__u64>(off)); },
                  done);
}

bool UringQueue::write(int fd, const void* buf, std::size_t len, off_t off, bool dsync, Done& done) {
    return submit(
        [&](io_uring_sqe* sqe) {
            io_uring_prep_write(sqe, fd, buf, static_cast<unsigned>(len), static_cast<__u64>(off));
            if (dsync) sqe->rw_flags = RWF_DSYNC;  // FUA: durable when it completes
        },
        done);
}

bool UringQueue::fdatasync(int fd, Done& done) {
    return submit([&](io_uring_sqe* sqe) { io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); }, done);
}

void UringQueue::reap() {
    for (;;) {
        io_uring_cqe* cqe = nullptr;
        const int rc = io_uring_wait_cqe(&ring_, &cqe);
        if (rc == -EINTR) continue;
        if (rc < 0) return;
        const std::uint64_t data = io_uring_cqe_get_data64(cqe);
        const int res = cqe->res;
        io_uring_cqe_seen(&ring_, cqe);
        if (data == kStop) return;
        (void)submitted_.load(std::memory_order_acquire);  // pairs with submit()'s release
        std::unique_ptr<Done> done(reinterpret_cast<Done*>(data));
        (*done)(res);
    }
}

}  // namespace vstor::backends
