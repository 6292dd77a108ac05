// A flag set once that any number of threads can wait for, each with a bound: how the remover of
// a LUN learns that the LUN (and its backend) is gone, whichever thread let go of it last.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace vstor::util {

class DoneFlag {
public:
    void set() {
        std::lock_guard lk(mu_);
        done_ = true;
        cv_.notify_all();
    }
    // True once set, false if `deadline` came first.
    bool wait_until(std::chrono::steady_clock::time_point deadline) const {
        std::unique_lock lk(mu_);
        return cv_.wait_until(lk, deadline, [this] { return done_; });
    }

private:
    mutable std::mutex mu_;
    mutable std::condition_variable cv_;
    bool done_ = false;
};

// Sets its flag when it is destroyed: a member declared before the ones whose end it reports
// (members are destroyed in the reverse order of their declaration).
class SetOnDestroy {
public:
    SetOnDestroy() = default;
    SetOnDestroy(const SetOnDestroy&) = delete;
    SetOnDestroy& operator=(const SetOnDestroy&) = delete;
    ~SetOnDestroy() { flag_->set(); }
    const std::shared_ptr<DoneFlag>& flag() const { return flag_; }

private:
    std::shared_ptr<DoneFlag> flag_ = std::make_shared<DoneFlag>();
};

}  // namespace vstor::util
