#include "util/thread_pool.hpp"

namespace vstor::util {

ThreadPool::ThreadPool(unsigned threads) {
    if (threads == 0) threads = 1;
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    stop_cv_.notify_all();
    for (auto& t : threads_) t.join();
}

bool ThreadPool::runs_on_this_thread() const {
    const auto me = std::this_thread::get_id();
    for (const auto& t : threads_)
        if (t.get_id() == me) return true;
    return false;
}

void ThreadPool::post(std::function<void()> fn) {
    {
        std::lock_guard lk(mu_);
        queue_.push_back(std::move(fn));
    }
    cv_.notify_one();
}

bool ThreadPool::sleep_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock lk(mu_);
    return stop_cv_.wait_until(lk, deadline, [this] { return stop_; });
}

void ThreadPool::run() {
    for (;;) {
        std::function<void()> fn;
        {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [this] { return stop_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stop_ and drained
            fn = std::move(queue_.front());
            queue_.pop_front();
        }
        fn();
    }
}

}  // namespace vstor::util
