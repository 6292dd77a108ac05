// CHAP failure throttling: three free failures, then 250 ms doubling to 4 s per address or
// initiator, forgotten on success or after a quiet minute, in bounded tables.
#include <gtest/gtest.h>

#include <string>

#include "iscsi/auth_throttle.hpp"

namespace vstor::iscsi {
namespace {

using namespace std::chrono_literals;
using Clock = AuthThrottle::Clock;

TEST(AuthThrottle, ThreeFreeFailuresThenDoublingToFourSeconds) {
    AuthThrottle t;
    const auto now = Clock::now();
    const std::chrono::milliseconds expected[] = {0ms, 0ms, 0ms, 250ms, 500ms, 1000ms, 2000ms, 4000ms, 4000ms, 4000ms};
    for (unsigned i = 0; i < std::size(expected); ++i) {
        EXPECT_EQ(t.delay("10.0.0.1", "iqn.x", now), expected[i]) << "after " << i << " failures";
        EXPECT_EQ(t.record_failure("10.0.0.1", "iqn.x", now), i + 1);
    }
    EXPECT_EQ(t.delay_after(1000), 4000ms) << "no overflow for many failures";
}

TEST(AuthThrottle, CountedByAddressAndByInitiator) {
    AuthThrottle t;
    const auto now = Clock::now();
    for (int i = 0; i < 4; ++i) t.record_failure("10.0.0.1", "iqn.a" + std::to_string(i), now);
    EXPECT_EQ(t.delay("10.0.0.1", "iqn.fresh", now), 500ms) << "a new initiator name does not reset the address";
    EXPECT_EQ(t.delay("10.0.0.2", "iqn.a0", now), 0ms) << "other address, initiator with one failure";
    for (int i = 0; i < 4; ++i) t.record_failure("10.0.1." + std::to_string(i), "iqn.b", now);
    EXPECT_EQ(t.delay("10.0.9.9", "iqn.b", now), 500ms) << "a new address does not reset the initiator";
}

TEST(AuthThrottle, SuccessForgetsBothCounts) {
    AuthThrottle t;
    const auto now = Clock::now();
    for (int i = 0; i < 5; ++i) t.record_failure("10.0.0.1", "iqn.x", now);
    t.record_success("10.0.0.1", "iqn.x");
    EXPECT_EQ(t.delay("10.0.0.1", "iqn.x", now), 0ms);
}

TEST(AuthThrottle, CountsLapseAfterAQuietMinute) {
    AuthThrottle t;
    const auto now = Clock::now();
    for (int i = 0; i < 5; ++i) t.record_failure("10.0.0.1", "iqn.x", now);
    EXPECT_EQ(t.delay("10.0.0.1", "iqn.x", now + 59s), 1000ms);
    EXPECT_EQ(t.delay("10.0.0.1", "iqn.x", now + 60s), 0ms);
    EXPECT_EQ(t.record_failure("10.0.0.1", "iqn.x", now + 61s), 1u) << "counting starts again";
}

TEST(AuthThrottle, TablesStayBoundedAndDropTheLeastRecentlyFailed) {
    AuthThrottle::Policy p;
    p.max_entries = 100;
    AuthThrottle t(p);
    const auto now = Clock::now();
    auto name = [](int i) { return "10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256); };
    for (int i = 0; i < 10000; ++i) t.record_failure(name(i), "iqn.n" + std::to_string(i), now);
    EXPECT_EQ(t.tracked_addresses(), 100u);
    EXPECT_EQ(t.tracked_initiators(), 100u);
    for (int i = 0; i < 5; ++i) t.record_failure("10.0.0.1", "iqn.keep", now);
    for (int i = 0; i < 99; ++i) t.record_failure(name(20000 + i), "iqn.m" + std::to_string(i), now);
    EXPECT_EQ(t.delay("10.0.0.1", "iqn.keep", now), 1000ms) << "the most recently failed are kept";
    t.record_failure(name(30000), "iqn.last", now);
    EXPECT_EQ(t.delay("10.0.0.1", "iqn.keep", now), 0ms) << "then dropped as the least recently failed";
    EXPECT_LE(t.tracked_addresses(), 100u);
}

}  // namespace
}  // namespace vstor::iscsi
