// Steps that each wait on their own storage (a LUN closing, which for an RBD LUN of a cluster that
// does not answer takes its whole 10 s timeout) run side by side: N of them take as long as the
// slowest, not the sum.
#pragma once

#include <spdlog/spdlog.h>

#include <exception>
#include <system_error>
#include <thread>
#include <vector>

namespace vstor::util {

// Calls step(item) for every item, each on a thread of its own, and returns once all returned.
// Where no thread can be had, that step runs on the calling thread. An exception a step throws
// is logged with `what` (it cannot reach the caller from another thread).
template <class T, class Step>
void run_side_by_side(std::vector<T>& items, Step step, const char* what) {
    std::vector<std::thread> threads;
    threads.reserve(items.size());
    const auto guarded = [&step, what](T& item) {
        try {
            step(item);
        } catch (const std::exception& e) {
            spdlog::error("{}: {}", what, e.what());
        }
    };
    for (auto& item : items) {
        try {
            threads.emplace_back([&guarded, &item] { guarded(item); });
        } catch (const std::system_error&) {
            guarded(item);
        }
    }
    for (auto& t : threads) t.join();
}

}  // namespace vstor::util
