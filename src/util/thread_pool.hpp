// A small fixed pool of worker threads for blocking work (slow-path SCSI commands, file I/O).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vstor::util {

class ThreadPool {
public:
    explicit ThreadPool(unsigned threads);
    ~ThreadPool();  // drains queued work, then joins
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    void post(std::function<void()> fn);

    // Whether the caller is one of this pool's workers (which must not destroy the pool: a
    // worker cannot join itself).
    bool runs_on_this_thread() const;

    // For long work that paces itself (a rate-limited SANITIZE): sleeps until `deadline`, or
    // returns early once the pool is being destroyed. Returns true if the pool is stopping.
    bool sleep_until(std::chrono::steady_clock::time_point deadline);

private:
    void run();
    std::mutex mu_;  // guards queue_ and stop_
    std::condition_variable cv_;
    std::condition_variable stop_cv_;  // sleep_until waiters (apart from cv_: a post must wake a worker)
    std::deque<std::function<void()>> queue_;
    bool stop_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace vstor::util
