#include "util/write_budget.hpp"

#include <algorithm>
#include <utility>
#include <vector>

namespace vstor::util {

namespace {
std::uint64_t headroom(std::uint64_t limit, std::uint64_t used) {
    return used >= limit ? 0 : limit - used;
}
}  // namespace

WriteBudget::WriteBudget(std::uint64_t per_account, std::uint64_t total)
    : per_account_(per_account ? per_account : kUnlimited), total_(total ? total : kUnlimited) {}

std::shared_ptr<WriteBudget> WriteBudget::create(std::uint64_t per_account, std::uint64_t total) {
    return std::shared_ptr<WriteBudget>(new WriteBudget(per_account, total));
}

std::shared_ptr<WriteBudget::Account> WriteBudget::open_account() {
    return std::make_shared<Account>(shared_from_this());
}

std::uint64_t WriteBudget::used() const {
    std::lock_guard lk(mu_);
    return used_;
}

WriteBudget::Account::~Account() {
    std::lock_guard lk(budget_->mu_);
    std::erase_if(budget_->waiters_, [this](const auto& kv) { return kv.second.account == this; });
}

bool WriteBudget::Account::try_grant(std::uint64_t n, const void* key, std::function<void()> wake) {
    auto& b = *budget_;
    std::lock_guard lk(b.mu_);
    const bool account_ok = b.per_account_ == kUnlimited || granted_ == 0 || used_ + n <= b.per_account_;
    const bool total_ok = b.total_ == kUnlimited || b.granted_ == 0 || b.used_ + n <= b.total_;
    if (!account_ok || !total_ok) {
        b.waiters_[key] = Waiter{this, std::move(wake)};
        return false;
    }
    used_ += n;
    granted_ += n;
    b.used_ += n;
    b.granted_ += n;
    b.waiters_.erase(key);
    return true;
}

void WriteBudget::Account::force(std::uint64_t n) {
    std::lock_guard lk(budget_->mu_);
    used_ += n;
    budget_->used_ += n;
}

void WriteBudget::Account::give_back(std::uint64_t granted, std::uint64_t forced) {
    if (!granted && !forced) return;
    auto& b = *budget_;
    std::vector<Waiter> wake;
    {
        std::lock_guard lk(b.mu_);
        used_ -= granted + forced;
        granted_ -= granted;
        b.used_ -= granted + forced;
        b.granted_ -= granted;
        wake.reserve(b.waiters_.size());
        for (auto& [key, w] : b.waiters_) wake.push_back(std::move(w));
        b.waiters_.clear();
    }
    // Every waiter tries again (on its own loop): the room may fit any of them.
    for (auto& w : wake) w.wake();
}

void WriteBudget::Account::forget_waiter(const void* key) {
    std::lock_guard lk(budget_->mu_);
    budget_->waiters_.erase(key);
}

std::uint32_t WriteBudget::Account::room_for(std::uint64_t per_command) const {
    const auto& b = *budget_;
    std::lock_guard lk(b.mu_);
    for (const auto& [key, w] : b.waiters_)
        if (w.account == this) return 0;
    if (b.per_account_ == kUnlimited && b.total_ == kUnlimited) return UINT32_MAX;
    const std::uint64_t free = std::min(headroom(b.per_account_, used_), headroom(b.total_, b.used_));
    if (free == 0) return 0;
    if (per_command == 0) return UINT32_MAX;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(free / per_command, UINT32_MAX));
}

std::uint64_t WriteBudget::Account::used() const {
    std::lock_guard lk(budget_->mu_);
    return used_;
}

std::uint64_t WriteBudget::Account::granted() const {
    std::lock_guard lk(budget_->mu_);
    return granted_;
}

bool WriteBudget::Account::waiting() const {
    std::lock_guard lk(budget_->mu_);
    for (const auto& [key, w] : budget_->waiters_)
        if (w.account == this) return true;
    return false;
}

bool WriteBudget::Account::idle() const {
    std::lock_guard lk(budget_->mu_);
    if (used_) return false;
    for (const auto& [key, w] : budget_->waiters_)
        if (w.account == this) return false;
    return true;
}

WriteHold& WriteHold::operator=(WriteHold&& o) noexcept {
    if (this != &o) {
        release();
        account_ = std::move(o.account_);
        granted_ = std::exchange(o.granted_, 0);
        forced_ = std::exchange(o.forced_, 0);
    }
    return *this;
}

bool WriteHold::try_grant(std::uint64_t n, const void* key, std::function<void()> wake) {
    if (!account_ || n == 0) return true;
    if (!account_->try_grant(n, key, std::move(wake))) return false;
    granted_ += n;
    return true;
}

void WriteHold::force(std::uint64_t n) {
    if (!account_ || n == 0) return;
    account_->force(n);
    forced_ += n;
}

void WriteHold::release() {
    if (account_) account_->give_back(std::exchange(granted_, 0), std::exchange(forced_, 0));
}

}  // namespace vstor::util
