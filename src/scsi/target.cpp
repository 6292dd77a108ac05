#include "scsi/target.hpp"

#include <algorithm>

namespace vstor::scsi {

std::shared_ptr<LogicalUnit> Target::find_lun(std::uint16_t lun) const {
    std::lock_guard lk(mu_);
    auto it = luns_.find(lun);
    return it == luns_.end() ? nullptr : it->second;
}

std::vector<std::uint16_t> Target::lun_ids() const {
    std::lock_guard lk(mu_);
    std::vector<std::uint16_t> ids;
    ids.reserve(luns_.size());
    for (const auto& [id, lu] : luns_) ids.push_back(id);
    return ids;
}

std::vector<std::shared_ptr<LogicalUnit>> Target::luns() const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<LogicalUnit>> v;
    for (const auto& [id, lu] : luns_) v.push_back(lu);
    return v;
}

bool Target::insert_lun(std::uint16_t lun, std::shared_ptr<LogicalUnit> lu) {
    std::lock_guard lk(mu_);
    return luns_.emplace(lun, std::move(lu)).second;
}

std::shared_ptr<LogicalUnit> Target::erase_lun(std::uint16_t lun) {
    std::lock_guard lk(mu_);
    auto it = luns_.find(lun);
    if (it == luns_.end()) return nullptr;
    auto lu = std::move(it->second);
    luns_.erase(it);
    return lu;
}

void Target::attach(const std::shared_ptr<NexusState>& n) {
    std::lock_guard lk(mu_);
    std::erase_if(nexuses_, [](const auto& w) { return w.expired(); });
    nexuses_.push_back(n);
}

std::vector<std::shared_ptr<NexusState>> Target::nexuses() const {
    std::lock_guard lk(mu_);
    std::vector<std::shared_ptr<NexusState>> v;
    for (const auto& w : nexuses_)
        if (auto n = w.lock()) v.push_back(std::move(n));
    return v;
}

void Target::broadcast_ua(std::uint16_t lun, const Sense& s, const NexusState* except) {
    for (const auto& n : nexuses())
        if (n.get() != except) n->add_ua(lun, s);
}

void Target::broadcast_ua_all_luns(const Sense& s) {
    const auto ids = lun_ids();
    for (const auto& n : nexuses()) {
        for (auto id : ids) n->add_ua(id, s);
        if (ids.empty() || !std::count(ids.begin(), ids.end(), 0)) n->add_ua(0, s);
    }
}

}  // namespace vstor::scsi
