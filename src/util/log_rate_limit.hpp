// At most `burst` log lines per `interval` for one kind of event, so a peer that triggers a
// warning thousands of times a second cannot flood the log. Thread-safe.
//
//   static util::LogRateLimit limit(5, std::chrono::seconds(10));
//   if (auto suppressed = limit.admit()) spdlog::warn("... ({} like it suppressed)", *suppressed);
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace vstor::util {

class LogRateLimit {
public:
    using Clock = std::chrono::steady_clock;
    LogRateLimit(unsigned burst, Clock::duration interval) : burst_(burst), interval_(interval) {}

    // nullopt: do not log this one. Otherwise log it, mentioning how many were suppressed
    // since the last line that was logged.
    std::optional<std::uint64_t> admit(Clock::time_point now = Clock::now()) {
        std::lock_guard lk(mu_);
        if (now - window_start_ >= interval_) {
            window_start_ = now;
            in_window_ = 0;
        }
        if (in_window_ >= burst_) {
            ++suppressed_;
            return std::nullopt;
        }
        ++in_window_;
        const auto s = suppressed_;
        suppressed_ = 0;
        return s;
    }

private:
    const unsigned burst_;
    const Clock::duration interval_;
    std::mutex mu_;
    Clock::time_point window_start_{};
    unsigned in_window_ = 0;
    std::uint64_t suppressed_ = 0;
};

}  // namespace vstor::util
