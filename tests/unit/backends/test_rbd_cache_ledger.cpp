// The RBD backend's account of cached writes a blocklisted connection may have lost
// (backends/rbd/rbd_cache_ledger.hpp), without a cluster: a write acknowledged from the old
// connection's cache after the recovery swapped it out (it was in flight at the swap) must still
// make the next flush fail.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "backends/rbd/rbd_cache_ledger.hpp"

namespace vstor::backends {
namespace {

struct Ledger : ::testing::Test {
    std::shared_ptr<std::atomic<bool>> lost = std::make_shared<std::atomic<bool>>(false);
    RbdCacheLedger ledger;
    void SetUp() override { ledger.set_lost_flag(lost); }
};

TEST_F(Ledger, WritesBeforeTheFirstFlushAreWrittenThrough) {
    ledger.acked();  // librbd writes through until the first flush
    EXPECT_EQ(ledger.retire(), 0u);
    EXPECT_FALSE(lost->load());
}

TEST_F(Ledger, AFlushCoversTheWritesAcknowledgedBeforeItStarted) {
    ledger.start_writeback();
    ledger.acked();
    ledger.acked();
    const auto covers = ledger.flush_covers();
    ledger.acked();  // after the flush started: not covered
    ledger.flushed(covers);
    ledger.flushed(1);  // an older flush completing late does not take coverage back
    EXPECT_EQ(ledger.retire(), 1u);
    EXPECT_TRUE(lost->load());
}

TEST_F(Ledger, EverythingFlushedLosesNothing) {
    ledger.start_writeback();
    ledger.acked();
    ledger.flushed(ledger.flush_covers());
    EXPECT_EQ(ledger.retire(), 0u);
    EXPECT_FALSE(lost->load());
}

// The hole this closes: the recovery found nothing unflushed, then a write still in flight on
// the old connection was acknowledged from its cache.
TEST_F(Ledger, AWriteAcknowledgedAfterTheSwapIsCounted) {
    ledger.start_writeback();
    ledger.acked();
    ledger.flushed(ledger.flush_covers());
    EXPECT_EQ(ledger.retire(), 0u);
    EXPECT_FALSE(lost->load());
    ledger.acked();
    EXPECT_TRUE(lost->load());
}

// retire() racing acked(): whichever runs first, a write acknowledged without a flush ends up
// raising the flag (by acked() itself when retire() did not see it counted).
TEST(LedgerRace, NoAcknowledgedWriteSlipsPastTheSwap) {
    for (int round = 0; round < 2000; ++round) {
        auto lost = std::make_shared<std::atomic<bool>>(false);
        RbdCacheLedger ledger;
        ledger.set_lost_flag(lost);
        ledger.start_writeback();
        std::atomic<bool> go{false};
        std::thread writer([&] {
            while (!go.load()) {
            }
            ledger.acked();
        });
        go = true;
        ledger.retire();
        writer.join();
        ASSERT_TRUE(lost->load()) << "round " << round;
    }
}

}  // namespace
}  // namespace vstor::backends
