// The write buffer budget's accounting: grants within the limits, waiting and waking, forced
// (unsolicited) bytes, the progress rule that lets one command through when a limit is smaller
// than it, and the CmdSN window room it reports.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "util/write_budget.hpp"

namespace vstor::util {
namespace {

constexpr std::uint64_t MiB = 1u << 20;

TEST(WriteBudget, GrantsWithinLimitsAndGivesBack) {
    auto b = WriteBudget::create(4 * MiB, 6 * MiB);
    auto a = b->open_account();
    int woken = 0;
    EXPECT_TRUE(a->try_grant(3 * MiB, &woken, [&] { ++woken; }));
    EXPECT_FALSE(a->try_grant(2 * MiB, &woken, [&] { ++woken; }));  // 5 MiB > 4 MiB per account
    EXPECT_TRUE(a->waiting());
    EXPECT_EQ(a->used(), 3 * MiB);
    EXPECT_EQ(b->used(), 3 * MiB);
    a->give_back(3 * MiB, 0);
    EXPECT_EQ(woken, 1);
    EXPECT_FALSE(a->waiting());
    EXPECT_EQ(b->used(), 0u);
    EXPECT_TRUE(a->try_grant(2 * MiB, &woken, [&] { ++woken; }));
}

TEST(WriteBudget, TotalLimitSpansAccounts) {
    auto b = WriteBudget::create(4 * MiB, 6 * MiB);
    auto a1 = b->open_account(), a2 = b->open_account();
    int k1 = 0, k2 = 0, woken2 = 0;
    EXPECT_TRUE(a1->try_grant(4 * MiB, &k1, [] {}));
    EXPECT_TRUE(a2->try_grant(2 * MiB, &k2, [] {}));
    EXPECT_FALSE(a2->try_grant(1 * MiB, &k2, [&] { ++woken2; }));  // 7 MiB > 6 MiB total
    a1->give_back(4 * MiB, 0);  // another account's release wakes it
    EXPECT_EQ(woken2, 1);
    EXPECT_TRUE(a2->try_grant(1 * MiB, &k2, [] {}));
    a2->give_back(3 * MiB, 0);
    EXPECT_EQ(b->used(), 0u);
}

// A command larger than the per-account limit still goes through when it is the account's only
// grant: otherwise it would wait for ever.
TEST(WriteBudget, OneCommandLargerThanTheLimitProceeds) {
    auto b = WriteBudget::create(1 * MiB, 8 * MiB);
    auto a = b->open_account();
    int k = 0;
    EXPECT_TRUE(a->try_grant(4 * MiB, &k, [] {}));
    EXPECT_FALSE(a->try_grant(4 * MiB, &k, [] {}));  // the second one waits
    a->give_back(4 * MiB, 0);
    EXPECT_TRUE(a->try_grant(4 * MiB, &k, [] {}));
}

// Forced bytes (data that arrived unasked) count against the limits but never block the
// progress rule: with only forced bytes held, a grant still goes through.
TEST(WriteBudget, ForcedBytesCountButDoNotDeadlock) {
    auto b = WriteBudget::create(1 * MiB, 2 * MiB);
    auto a1 = b->open_account(), a2 = b->open_account();
    a1->force(2 * MiB);
    a2->force(1 * MiB);
    EXPECT_EQ(b->used(), 3 * MiB);
    EXPECT_EQ(a1->room_for(64 << 10), 0u);
    int k = 0;
    // Nothing is granted anywhere: the first grant goes through though both limits are passed.
    EXPECT_TRUE(a2->try_grant(1 * MiB, &k, [] {}));
    int k1 = 0;
    EXPECT_FALSE(a1->try_grant(1 * MiB, &k1, [] {}));
    a2->give_back(1 * MiB, 1 * MiB);
    a1->give_back(0, 2 * MiB);
    EXPECT_EQ(b->used(), 0u);
}

TEST(WriteBudget, RoomForTheCmdSnWindow) {
    auto b = WriteBudget::create(4 * MiB, 0);  // total unlimited
    auto a = b->open_account();
    EXPECT_EQ(a->room_for(256 << 10), 16u);
    EXPECT_EQ(a->room_for(0), UINT32_MAX);
    a->force(3 * MiB);
    EXPECT_EQ(a->room_for(256 << 10), 4u);
    int k = 0;
    EXPECT_TRUE(a->try_grant(1 * MiB, &k, [] {}));
    EXPECT_EQ(a->room_for(256 << 10), 0u);  // used up: the window stops opening
    EXPECT_EQ(a->room_for(0), 0u);
    EXPECT_FALSE(a->try_grant(1, &k, [] {}));
    a->give_back(1 * MiB, 0);  // wakes the waiter, which tries again
    EXPECT_EQ(a->room_for(256 << 10), 4u);
    EXPECT_TRUE(a->try_grant(1, &k, [] {}));
    EXPECT_EQ(a->room_for(256 << 10), 3u);
    a->give_back(1, 3 * MiB);
    auto unlimited = WriteBudget::create(0, 0)->open_account();
    EXPECT_EQ(unlimited->room_for(1), UINT32_MAX);
}

TEST(WriteBudget, HoldReleasesOnDestruction) {
    auto b = WriteBudget::create(8 * MiB, 8 * MiB);
    auto a = b->open_account();
    {
        WriteHold h(a);
        int k = 0;
        h.force(1 * MiB);
        EXPECT_TRUE(h.try_grant(2 * MiB, &k, [] {}));
        EXPECT_EQ(b->used(), 3 * MiB);
        WriteHold moved(std::move(h));
        EXPECT_EQ(b->used(), 3 * MiB);
        EXPECT_EQ(moved.granted(), 2 * MiB);
    }
    EXPECT_EQ(b->used(), 0u);
    EXPECT_EQ(a->granted(), 0u);
}

TEST(WriteBudget, DestroyedAccountForgetsItsWaiters) {
    auto b = WriteBudget::create(1 * MiB, 1 * MiB);
    auto holder = b->open_account();
    int k = 0, k2 = 0;
    ASSERT_TRUE(holder->try_grant(1 * MiB, &k, [] {}));
    bool woken = false;
    {
        auto gone = b->open_account();
        EXPECT_FALSE(gone->try_grant(1 * MiB, &k2, [&] { woken = true; }));
    }
    holder->give_back(1 * MiB, 0);
    EXPECT_FALSE(woken);
}

// Many threads granting and giving back: the counters end at zero and every waiter is woken
// eventually (a lost wake-up would hang this test).
TEST(WriteBudget, ConcurrentGrantsNeverLoseAWakeUp) {
    auto b = WriteBudget::create(2 * MiB, 3 * MiB);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([b] {
            auto a = b->open_account();
            int key = 0;
            // Wake-ups are counted, in a count every callback shares: a wake can come late, from
            // a give_back that took this waiter before a later try of its own succeeded (after this
            // iteration, or this thread, ended). A flag on the iteration's stack was written then
            // (TSan: a data race with the next iteration's flag).
            auto wakes = std::make_shared<std::atomic<unsigned>>(0);
            for (int i = 0; i < 2000; ++i) {
                for (;;) {
                    const unsigned seen = wakes->load();
                    if (a->try_grant(1 * MiB, &key, [wakes] { ++*wakes; })) break;
                    while (wakes->load() == seen) std::this_thread::yield();
                }
                a->give_back(1 * MiB, 0);
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(b->used(), 0u);
}

}  // namespace
}  // namespace vstor::util
