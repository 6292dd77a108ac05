#include "backends/rbd/rbd_async_op.hpp"

#include <cerrno>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

#include "util/bounded_thread.hpp"

namespace vstor::backends {

// The completion's argument is a heap copy of the signal's shared_ptr, which the callback (on a
// librados thread) deletes: it touches nothing else, so the op itself may be gone by then.
RbdAsyncOp::RbdAsyncOp(std::shared_ptr<const void> keep) : keep_(std::move(keep)) {
    arg_ = new std::shared_ptr<Signal>(signal_);
    if (rados_aio_create_completion2(arg_, on_complete, &c_) < 0) c_ = nullptr;
}

RbdAsyncOp::~RbdAsyncOp() {
    if (watch_cookie && started_ && rados_aio_get_return_value(c_) == 0) rados_unwatch2(watch_ctx, watch_cookie);
    if (reply) rados_buffer_free(reply);
    if (rop) rados_release_read_op(rop);
    if (wop) rados_release_write_op(wop);
    if (!started_) delete arg_;  // no callback will come to delete it
    if (c_) rados_aio_release(c_);
}

void RbdAsyncOp::on_complete(rados_completion_t, void* arg) {
    auto* sig = static_cast<std::shared_ptr<Signal>*>(arg);
    {
        std::lock_guard lk((*sig)->mu);
        (*sig)->done = true;
    }
    (*sig)->cv.notify_all();
    delete sig;
}

int RbdAsyncOp::wait(const std::atomic<bool>& give_up) {
    std::unique_lock lk(signal_->mu);
    while (!signal_->done) {
        if (give_up.load(std::memory_order_acquire)) return -ECANCELED;
        signal_->cv.wait_for(lk, kGiveUpCheck);
    }
    return rados_aio_get_return_value(c_);
}

void RbdAsyncOp::leave(std::shared_ptr<RbdAsyncOp> op, const std::string& what) {
    spdlog::warn("{}: an operation the cluster has not answered is left to a thread of its own, which frees it "
                 "(and lets go of the connection) once it completes",
                 what);
    util::BoundedThread([op = std::move(op)]() mutable {
        std::unique_lock lk(op->signal_->mu);
        op->signal_->cv.wait(lk, [&] { return op->signal_->done; });
        lk.unlock();
        op.reset();  // here, not on a librados thread: it may close the connection
    }).join_until({});  // not waited for, but counted among the threads left running
}

}  // namespace vstor::backends
