// Rate limit for log lines that a peer or a failing disk can trigger at line rate: at most `burst`
// events pass per `interval`; the rest are counted, and the next event that passes learns how many
// were dropped so its line can say so ("... (37 more suppressed)"). Thread-safe; meant for rare
// paths (errors, refusals), not for the I/O fast path.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace vstor::util {

class RateLimiter {
public:
    using Clock = std::chrono::steady_clock;

    explicit RateLimiter(Clock::duration interval = std::chrono::seconds(10), unsigned burst = 1)
        : interval_(interval), burst_(burst ? burst : 1) {}

    // True when this event may be logged now; then `suppressed` (when given) is the number of
    // events dropped since the last one that passed.
    bool allow(std::uint64_t* suppressed = nullptr, Clock::time_point now = Clock::now()) {
        std::lock_guard lk(mu_);
        if (!started_ || now - window_start_ >= interval_) {
            started_ = true;
            window_start_ = now;
            passed_ = 0;
        }
        if (passed_ >= burst_) {
            ++dropped_;
            return false;
        }
        ++passed_;
        if (suppressed) *suppressed = dropped_;
        dropped_ = 0;
        return true;
    }

private:
    std::mutex mu_;
    const Clock::duration interval_;
    const unsigned burst_;
    bool started_ = false;
    Clock::time_point window_start_{};
    unsigned passed_ = 0;
    std::uint64_t dropped_ = 0;
};

}  // namespace vstor::util
