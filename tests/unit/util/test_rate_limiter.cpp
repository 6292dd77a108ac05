// RateLimiter: at most `burst` events pass per interval; the next one that passes learns how many
// were dropped, so its log line can say so.
#include <gtest/gtest.h>

#include "util/rate_limiter.hpp"

namespace vstor::util {
namespace {

using namespace std::chrono_literals;

TEST(RateLimiter, BurstPerIntervalThenCountsTheSuppressed) {
    RateLimiter limit(10s, 3);
    const auto t0 = RateLimiter::Clock::now();
    std::uint64_t suppressed = 99;
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(limit.allow(&suppressed, t0 + std::chrono::milliseconds(i)));
        EXPECT_EQ(suppressed, 0u);
    }
    for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limit.allow(&suppressed, t0 + 1s));
    EXPECT_TRUE(limit.allow(&suppressed, t0 + 10s));
    EXPECT_EQ(suppressed, 1000u);
    EXPECT_TRUE(limit.allow(&suppressed, t0 + 10s));
    EXPECT_EQ(suppressed, 0u);
}

TEST(RateLimiter, DefaultLetsOneLinePerInterval) {
    RateLimiter limit(1s);
    const auto t0 = RateLimiter::Clock::now();
    EXPECT_TRUE(limit.allow(nullptr, t0));
    EXPECT_FALSE(limit.allow(nullptr, t0 + 500ms));
    EXPECT_TRUE(limit.allow(nullptr, t0 + 1s));
}

}  // namespace
}  // namespace vstor::util
