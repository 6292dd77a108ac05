// LogRateLimit: at most `burst` lines per interval; the next admitted line learns how many were
// suppressed.
#include <gtest/gtest.h>

#include "util/log_rate_limit.hpp"

namespace vstor::util {
namespace {

using namespace std::chrono_literals;

TEST(LogRateLimit, BurstPerIntervalThenCountsTheSuppressed) {
    LogRateLimit limit(3, 10s);
    const auto t0 = LogRateLimit::Clock::now();
    for (int i = 0; i < 3; ++i) EXPECT_EQ(limit.admit(t0 + std::chrono::milliseconds(i)), 0u);
    for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limit.admit(t0 + 1s));
    EXPECT_EQ(limit.admit(t0 + 10s), 1000u);
    EXPECT_EQ(limit.admit(t0 + 10s), 0u);
}

}  // namespace
}  // namespace vstor::util
