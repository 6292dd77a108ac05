// BoundedThread: joined when its function ends in time, left to finish (and counted) when not;
// what the function held is let go of before the thread reports it is done.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "util/bounded_thread.hpp"

namespace vstor::util {
namespace {

using namespace std::chrono_literals;

struct Gate {
    std::mutex mu;
    std::condition_variable cv;
    bool open = false;
    void release() {
        std::lock_guard lk(mu);
        open = true;
        cv.notify_all();
    }
    void wait() {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return open; });
    }
};

bool eventually(const std::function<bool()>& cond) {
    for (int i = 0; i < 500 && !cond(); ++i) std::this_thread::sleep_for(10ms);
    return cond();
}

TEST(BoundedThread, JoinsAThreadThatEndsInTime) {
    const int before = BoundedThread::left_running();
    BoundedThread t([] {});
    EXPECT_TRUE(t.join_for(5s));
    EXPECT_TRUE(t.done());
    EXPECT_EQ(BoundedThread::left_running(), before);
}

TEST(BoundedThread, LeavesAndCountsAThreadThatDoesNot) {
    const int before = BoundedThread::left_running();
    auto gate = std::make_shared<Gate>();
    {
        BoundedThread t([gate] { gate->wait(); });
        const auto t0 = std::chrono::steady_clock::now();
        EXPECT_FALSE(t.join_for(50ms));
        EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
        EXPECT_EQ(BoundedThread::left_running(), before + 1);
    }  // destroying a left thread's owner does not wait for it
    gate->release();
    EXPECT_TRUE(eventually([&] { return BoundedThread::left_running() == before; }));
}

TEST(BoundedThread, LetsGoOfWhatItHeldBeforeItIsDone) {
    auto held = std::make_shared<int>(7);
    std::weak_ptr<int> watch = held;
    std::atomic<bool> released_when_done{false};
    BoundedThread t([h = std::move(held)] { (void)h; });
    ASSERT_TRUE(eventually([&] { return t.done(); }));
    released_when_done = watch.expired();
    t.join();
    EXPECT_TRUE(released_when_done.load());
}

}  // namespace
}  // namespace vstor::util
