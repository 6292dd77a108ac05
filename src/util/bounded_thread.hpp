// A thread that its owner waits for only so long. Some calls (librados/librbd on a cluster that
// does not answer) have no timeout of their own; a thread making one must not hold a shutdown
// or a LUN removal forever. join_until() waits until a deadline, then leaves the thread to
// finish by itself (detached). The function it runs must therefore own, by shared pointers or
// copies, everything it may touch after its owner stopped waiting, and nothing of the owner.
// A process must not run its static destructors under such a thread (librados' globals die
// with them): left_running() says how many are still at work, and `vstor` then ends with
// std::_Exit (src/cli/main.cpp).
#pragma once

#include <atomic>
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
            {
                auto run = std::move(f);  // what it holds (a connection, say) is let go of here
                run();
            }
            std::lock_guard lk(done->mu);
            done->yes = true;
            if (done->left) left_count().fetch_sub(1, std::memory_order_acq_rel);
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
            if (!ended) done_->left = true, left_count().fetch_add(1, std::memory_order_acq_rel);
        }
        if (ended) thread_.join();
        else thread_.detach();
        return ended;
    }
    bool join_for(std::chrono::milliseconds wait) { return join_until(Clock::now() + wait); }

    // Threads left to finish by themselves that have not yet.
    static int left_running() { return left_count().load(std::memory_order_acquire); }

private:
    struct Done {
        std::mutex mu;
        std::condition_variable cv;
        bool yes = false;
        bool left = false;  // detached by join_until: counted in left_count() until it ends
    };
    static std::atomic<int>& left_count() {
        static std::atomic<int> n{0};
        return n;
    }
    std::shared_ptr<Done> done_;
    std::thread thread_;
};

}  // namespace vstor::util
