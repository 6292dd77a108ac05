// A thread that its owner waits for only so long. Some calls (librados/librbd on a cluster that
// does not answer) have no timeout of their own; a thread making one must not hold a shutdown
// or a LUN removal forever. join_until() waits until a deadline, then leaves the thread to
// finish by itself (detached). The function it runs must therefore own, by shared pointers or
// copies, everything it may touch after its owner stopped waiting, and nothing of the owner.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace vstor::util {

class BoundedThread {
public:
    using Clock = std::chrono::steady_clock;

    BoundedThread() = default;
    template <typename F>
    explicit BoundedThread(F&& f) : done_(std::make_shared<Done>()) {
        thread_ = std::thread([done = done_, f = std::forward<F>(f)]() mutable {
            f();
            std::lock_guard lk(done->mu);
            done->yes = true;
            done->cv.notify_all();
        });
    }
    BoundedThread(BoundedThread&&) = default;
    BoundedThread& operator=(BoundedThread&& o) noexcept {
        if (this != &o) {
            if (thread_.joinable()) thread_.join();
            thread_ = std::move(o.thread_);
            done_ = std::move(o.done_);
        }
        return *this;
    }
    ~BoundedThread() {
        if (thread_.joinable()) thread_.join();  // an owner that never set a bound waits
    }

    bool started() const { return thread_.joinable(); }
    // Its function returned (or no thread runs): join() will not wait.
    bool done() const {
        if (!thread_.joinable()) return true;
        std::lock_guard lk(done_->mu);
        return done_->yes;
    }
    void join() {
        if (thread_.joinable()) thread_.join();
    }

    // Joins the thread if its function returns before `deadline` (true); otherwise detaches it
    // and returns false: it ends by itself later. True at once when no thread runs.
    bool join_until(Clock::time_point deadline) {
        if (!thread_.joinable()) return true;
        bool ended = false;
        {
            std::unique_lock lk(done_->mu);
            ended = done_->cv.wait_until(lk, deadline, [&] { return done_->yes; });
        }
        if (ended) thread_.join();
        else thread_.detach();
        return ended;
    }
    bool join_for(std::chrono::milliseconds wait) { return join_until(Clock::now() + wait); }

private:
    struct Done {
        std::mutex mu;
        std::condition_variable cv;
        bool yes = false;
    };
    std::shared_ptr<Done> done_;
    std::thread thread_;
};

}  // namespace vstor::util
