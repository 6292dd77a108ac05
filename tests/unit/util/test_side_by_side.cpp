// util::run_side_by_side: every step runs, all at once (a step that waits for the others to
// start does not wait forever), and a step that throws is logged rather than ending the process.
#include "util/side_by_side.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

namespace vstor::util {
namespace {

TEST(SideBySide, StepsRunAtOnce) {
    std::vector<int> items{1, 2, 3, 4};
    std::atomic<int> started{0}, sum{0};
    std::atomic<bool> all_met{true};
    run_side_by_side(
        items,
        [&](int& i) {
            ++started;
            // One after another, the first step would wait here for the others until it gives up.
            const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (started < 4 && std::chrono::steady_clock::now() < until) std::this_thread::yield();
            if (started < 4) all_met = false;
            sum += i;
        },
        "test");
    EXPECT_TRUE(all_met) << "the steps did not run side by side";
    EXPECT_EQ(sum, 10);
}

TEST(SideBySide, AThrowingStepIsLoggedAndTheOthersFinish) {
    std::vector<int> items{1, 2, 3};
    std::atomic<int> done{0};
    run_side_by_side(
        items,
        [&](int& i) {
            if (i == 2) throw std::runtime_error("no storage");
            ++done;
        },
        "test");
    EXPECT_EQ(done, 2);
}

TEST(SideBySide, NoItems) {
    std::vector<int> none;
    run_side_by_side(none, [](int&) { FAIL(); }, "test");
}

}  // namespace
}  // namespace vstor::util
