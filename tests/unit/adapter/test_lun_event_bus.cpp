// The Adapter's LUN-event bus (vstor/lun_events.hpp), through the public API: what an event says,
// when it arrives, in which order, and how subscriptions end — from other threads, from inside a
// callback, before and after the Adapter is gone.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<Backend> disk() { return std::make_shared<backends::MemBackend>(1 << 20, 512); }

// Collects events from any thread.
struct Recorder {
    std::mutex mu;
    std::vector<LunEvent> events;
    LunEventCallback callback() {
        return [this](const LunEvent& e) {
            std::lock_guard lk(mu);
            events.push_back(e);
        };
    }
    std::vector<LunEvent> snapshot() {
        std::lock_guard lk(mu);
        return events;
    }
};

class LunEventBus : public ::testing::Test {
protected:
    void SetUp() override {
        auto id = adapter->add_target("iqn.2026-01.test:bus");
        ASSERT_TRUE(id);
        tid = *id.value;
    }
    std::unique_ptr<Adapter> adapter = Adapter::create();
    std::uint16_t tid = 0;
};

TEST_F(LunEventBus, EveryChangeArrivesBeforeItsCallReturnsWithTheLunsIdentity) {
    Recorder rec;
    auto sub = adapter->subscribe_lun_events(rec.callback());
    LunOptions opts;
    opts.removable = true;
    opts.name = "scratch";
    ASSERT_TRUE(adapter->add_lun(tid, 3, disk(), opts));
    ASSERT_EQ(rec.snapshot().size(), 1u);  // delivered before add_lun returned
    ASSERT_TRUE(adapter->resize_lun(tid, 3, 4096));
    ASSERT_TRUE(adapter->set_medium(tid, 3, false));
    ASSERT_TRUE(adapter->set_medium(tid, 3, false));  // no change, no event
    ASSERT_TRUE(adapter->remove_lun(tid, 3));
    EXPECT_FALSE(adapter->remove_lun(tid, 3));  // refused, no event

    const auto ev = rec.snapshot();
    ASSERT_EQ(ev.size(), 4u);
    const LunChange want[] = {LunChange::added, LunChange::resized, LunChange::medium_changed, LunChange::removed};
    for (std::size_t i = 0; i < ev.size(); ++i) {
        EXPECT_EQ(ev[i].change, want[i]) << i;
        EXPECT_EQ(ev[i].target_id, tid);
        EXPECT_EQ(ev[i].target_name, "iqn.2026-01.test:bus");
        EXPECT_EQ(ev[i].lun, 3);
        EXPECT_EQ(ev[i].lun_name, "scratch");
        if (i) {
            EXPECT_EQ(ev[i].sequence, ev[i - 1].sequence + 1);
        }
    }
    EXPECT_EQ(std::string(to_string(LunChange::medium_changed)), "medium_changed");
}

TEST_F(LunEventBus, SubscriptionSeesOnlyLaterChangesUntilItEnds) {
    ASSERT_TRUE(adapter->add_lun(tid, 0, disk()));
    Recorder first, second;
    auto a = adapter->subscribe_lun_events(first.callback());
    auto b = adapter->subscribe_lun_events(second.callback());
    EXPECT_TRUE(a);
    ASSERT_TRUE(adapter->add_lun(tid, 1, disk()));
    a.reset();
    EXPECT_FALSE(a);
    ASSERT_TRUE(adapter->add_lun(tid, 2, disk()));
    {
        LunSubscription moved = std::move(b);  // the subscription moves with its owner
        ASSERT_TRUE(adapter->add_lun(tid, 4, disk()));
    }
    ASSERT_TRUE(adapter->add_lun(tid, 5, disk()));
    ASSERT_EQ(first.snapshot().size(), 1u);
    EXPECT_EQ(first.snapshot()[0].lun, 1);
    const auto ev = second.snapshot();
    ASSERT_EQ(ev.size(), 3u);
    EXPECT_EQ(ev[0].lun, 1);
    EXPECT_EQ(ev[1].lun, 2);
    EXPECT_EQ(ev[2].lun, 4);

    // Move-assigning ends the subscription held before.
    Recorder third;
    auto c = adapter->subscribe_lun_events(third.callback());
    c = adapter->subscribe_lun_events([](const LunEvent&) {});
    ASSERT_TRUE(adapter->remove_lun(tid, 5));
    EXPECT_TRUE(third.snapshot().empty());
}

// A callback drops its own subscription (the usual "first event only" pattern): no deadlock, it
// is not called again, and the subscriber after it still gets the event.
TEST_F(LunEventBus, CallbackEndsItsOwnSubscription) {
    struct Once {
        LunSubscription sub;
        int calls = 0;
    };
    auto once = std::make_shared<Once>();
    once->sub = adapter->subscribe_lun_events([once_raw = once.get()](const LunEvent&) {
        ++once_raw->calls;
        once_raw->sub.reset();
    });
    Recorder after;
    auto sub = adapter->subscribe_lun_events(after.callback());
    ASSERT_TRUE(adapter->add_lun(tid, 0, disk()));
    ASSERT_TRUE(adapter->add_lun(tid, 1, disk()));
    EXPECT_EQ(once->calls, 1);
    EXPECT_FALSE(once->sub);
    EXPECT_EQ(after.snapshot().size(), 2u);
}

// Ending a subscription from another thread waits for its callback in flight: once reset()
// returns the callback's owner may go away.
TEST_F(LunEventBus, ResetWaitsForTheCallbackInFlightOnAnotherThread) {
    std::atomic<bool> entered{false}, release{false}, finished{false};
    auto sub = adapter->subscribe_lun_events([&](const LunEvent&) {
        entered = true;
        while (!release) std::this_thread::sleep_for(1ms);  // held in flight by the test on purpose
        finished = true;
    });
    std::thread changer([&] { EXPECT_TRUE(adapter->add_lun(tid, 0, disk())); });
    while (!entered) std::this_thread::sleep_for(1ms);
    std::atomic<bool> reset_done{false};
    std::thread ender([&] {
        sub.reset();
        EXPECT_TRUE(finished.load());  // never returns while the callback runs
        reset_done = true;
    });
    std::this_thread::sleep_for(100ms);
    EXPECT_FALSE(reset_done.load());
    release = true;
    ender.join();
    changer.join();
    EXPECT_TRUE(reset_done.load());
}

// A change made from inside a callback is delivered after that callback returns (to every
// subscriber, in order), and before the outer change's call returns.
TEST_F(LunEventBus, ChangeFromInsideACallbackFollowsTheCurrentEvent) {
    std::vector<std::pair<char, std::uint16_t>> seen;  // one delivery at a time: no lock needed
    bool nested_returned_before_delivery = false;
    auto a = adapter->subscribe_lun_events([&](const LunEvent& e) {
        seen.emplace_back('a', e.lun);
        if (e.lun != 1 || e.change != LunChange::added) return;
        EXPECT_TRUE(adapter->add_lun(tid, 2, disk()));
        nested_returned_before_delivery = seen.size() == 1;
    });
    LunSubscription late;
    auto b = adapter->subscribe_lun_events([&](const LunEvent& e) {
        seen.emplace_back('b', e.lun);
        // Subscribing from a callback: the new subscription starts with the next change.
        if (!late) late = adapter->subscribe_lun_events([&](const LunEvent& l) { seen.emplace_back('c', l.lun); });
    });
    ASSERT_TRUE(adapter->add_lun(tid, 1, disk()));
    EXPECT_TRUE(nested_returned_before_delivery);
    ASSERT_TRUE(adapter->add_lun(tid, 3, disk()));
    // LUN 2 was added before `late` subscribed (while the event of LUN 1 was being delivered).
    const std::vector<std::pair<char, std::uint16_t>> want = {{'a', 1}, {'b', 1}, {'a', 2}, {'b', 2},
                                                              {'a', 3}, {'b', 3}, {'c', 3}};
    EXPECT_EQ(seen, want);
}

TEST_F(LunEventBus, ThrowingSubscriberDoesNotStopTheOthers) {
    auto thrower = adapter->subscribe_lun_events([](const LunEvent&) { throw std::runtime_error("subscriber bug"); });
    Recorder rec;
    auto sub = adapter->subscribe_lun_events(rec.callback());
    ASSERT_TRUE(adapter->add_lun(tid, 0, disk()));
    EXPECT_EQ(rec.snapshot().size(), 1u);
}

// Legal both ways: a subscription ended before the Adapter is destroyed, and one that outlives it
// (ending it then does nothing; its callback went with the Adapter).
TEST_F(LunEventBus, SubscriptionMayEndBeforeOrAfterTheAdapter) {
    auto token = std::make_shared<int>(0);
    std::weak_ptr<int> watch = token;
    auto before = adapter->subscribe_lun_events([](const LunEvent&) {});
    auto after = adapter->subscribe_lun_events([t = std::move(token)](const LunEvent&) { ++*t; });
    ASSERT_TRUE(adapter->add_lun(tid, 0, disk()));
    before.reset();
    adapter.reset();
    EXPECT_TRUE(watch.expired());  // the callback was destroyed with the Adapter
    EXPECT_TRUE(after);
    after.reset();
    EXPECT_FALSE(after);
}

// Events of each LUN arrive in the order its changes took effect, even when several threads
// change the same LUN; all of them arrive, one callback at a time.
TEST_F(LunEventBus, EventsOfEachLunArriveInOrderUnderConcurrentChanges) {
    Recorder rec;
    std::atomic<int> inside{0}, most_inside{0};
    auto sub = adapter->subscribe_lun_events([&](const LunEvent& e) {
        const int n = ++inside;
        int m = most_inside;
        while (n > m && !most_inside.compare_exchange_weak(m, n)) {}
        rec.callback()(e);
        --inside;
    });
    constexpr int kRounds = 200;
    std::atomic<int> made{0};
    auto churn = [&](std::uint16_t lun) {
        for (int i = 0; i < kRounds; ++i) {
            made += adapter->add_lun(tid, lun, disk()) ? 1 : 0;
            made += adapter->resize_lun(tid, lun, 1024 + static_cast<std::uint64_t>(i)) ? 1 : 0;
            made += adapter->remove_lun(tid, lun) ? 1 : 0;
        }
    };
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i) threads.emplace_back(churn, 7);  // the same LUN from three threads
    threads.emplace_back(churn, 8);
    for (auto& t : threads) t.join();

    const auto ev = rec.snapshot();
    EXPECT_EQ(static_cast<int>(ev.size()), made.load());
    EXPECT_EQ(most_inside.load(), 1);
    std::map<std::uint16_t, bool> present;
    for (std::size_t i = 0; i < ev.size(); ++i) {
        if (i) {
            ASSERT_EQ(ev[i].sequence, ev[i - 1].sequence + 1) << i;
        }
        bool& p = present[ev[i].lun];
        switch (ev[i].change) {
            case LunChange::added: ASSERT_FALSE(p) << "added twice at " << i; p = true; break;
            case LunChange::removed: ASSERT_TRUE(p) << "removed while absent at " << i; p = false; break;
            default: ASSERT_TRUE(p) << "resized while absent at " << i; break;
        }
    }
    EXPECT_FALSE(present[7]);
    EXPECT_FALSE(present[8]);
}

// Subscriptions come and go on some threads while other threads change LUNs: a callback never
// runs after its reset() returned (its state is gone by then), and none is lost by the others.
TEST_F(LunEventBus, SubscribeAndUnsubscribeWhileEventsFireFromOtherThreads) {
    std::atomic<bool> stop{false};
    std::atomic<int> late_calls{0}, calls{0};
    auto subscriber = [&] {
        while (!stop) {
            auto alive = std::make_shared<std::atomic<bool>>(true);
            auto sub = adapter->subscribe_lun_events([&, raw = alive.get()](const LunEvent&) {
                if (!raw->load()) ++late_calls;
                ++calls;
            });
            std::this_thread::yield();
            sub.reset();
            *alive = false;  // after reset() returned the callback must not run
        }
    };
    Recorder steady;
    auto steady_sub = adapter->subscribe_lun_events(steady.callback());
    std::vector<std::thread> subs;
    for (int i = 0; i < 2; ++i) subs.emplace_back(subscriber);
    std::atomic<int> made{0};
    std::vector<std::thread> changers;
    for (std::uint16_t lun = 10; lun < 12; ++lun)
        changers.emplace_back([&, lun] {
            for (int i = 0; i < 300; ++i) {
                made += adapter->add_lun(tid, lun, disk()) ? 1 : 0;
                made += adapter->remove_lun(tid, lun) ? 1 : 0;
            }
        });
    for (auto& t : changers) t.join();
    stop = true;
    for (auto& t : subs) t.join();
    EXPECT_EQ(late_calls.load(), 0);
    EXPECT_EQ(static_cast<int>(steady.snapshot().size()), made.load());
    EXPECT_EQ(made.load(), 1200);
}

}  // namespace
}  // namespace vstor::test
