#include "iscsi/auth_throttle.hpp"

#include <algorithm>

namespace vstor::iscsi {

unsigned AuthThrottle::Table::count(const std::string& key, Clock::time_point now, std::chrono::seconds forget_after) {
    auto it = index_.find(key);
    if (it == index_.end()) return 0;
    if (now - it->second->last >= forget_after) {
        order_.erase(it->second);
        index_.erase(it);
        return 0;
    }
    return it->second->failures;
}

unsigned AuthThrottle::Table::add(const std::string& key, Clock::time_point now, std::chrono::seconds forget_after,
                                  std::size_t max_entries) {
    const unsigned before = count(key, now, forget_after);
    if (auto it = index_.find(key); it != index_.end()) {
        it->second->failures = before + 1;
        it->second->last = now;
        order_.splice(order_.begin(), order_, it->second);
        return before + 1;
    }
    while (!order_.empty() && order_.size() >= max_entries) {  // the least recently failed go first
        index_.erase(order_.back().key);
        order_.pop_back();
    }
    order_.push_front(Entry{key, 1, now});
    index_[key] = order_.begin();
    return 1;
}

void AuthThrottle::Table::erase(const std::string& key) {
    if (auto it = index_.find(key); it != index_.end()) {
        order_.erase(it->second);
        index_.erase(it);
    }
}

std::chrono::milliseconds AuthThrottle::delay_after(unsigned failures) const {
    if (failures < policy_.free_failures) return std::chrono::milliseconds{0};
    const unsigned doublings = std::min(failures - policy_.free_failures, 20u);
    return std::min(policy_.first_delay * (std::int64_t{1} << doublings), policy_.max_delay);
}

std::chrono::milliseconds AuthThrottle::delay(const std::string& address, const std::string& initiator,
                                              Clock::time_point now) {
    std::lock_guard lk(mu_);
    const unsigned n = std::max(by_address_.count(address, now, policy_.forget_after),
                                by_initiator_.count(initiator, now, policy_.forget_after));
    return delay_after(n);
}

unsigned AuthThrottle::record_failure(const std::string& address, const std::string& initiator, Clock::time_point now) {
    std::lock_guard lk(mu_);
    return std::max(by_address_.add(address, now, policy_.forget_after, policy_.max_entries),
                    by_initiator_.add(initiator, now, policy_.forget_after, policy_.max_entries));
}

void AuthThrottle::record_success(const std::string& address, const std::string& initiator) {
    std::lock_guard lk(mu_);
    by_address_.erase(address);
    by_initiator_.erase(initiator);
}

std::size_t AuthThrottle::tracked_addresses() {
    std::lock_guard lk(mu_);
    return by_address_.size();
}

std::size_t AuthThrottle::tracked_initiators() {
    std::lock_guard lk(mu_);
    return by_initiator_.size();
}

}  // namespace vstor::iscsi
