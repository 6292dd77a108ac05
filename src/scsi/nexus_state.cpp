#include "scsi/nexus_state.hpp"

#include <algorithm>

namespace vstor::scsi {

void NexusState::add_ua(std::uint16_t lun, const Sense& s) {
    std::lock_guard lk(mu_);
    auto& q = ua_[lun];
    const bool dup = std::any_of(q.begin(), q.end(), [&](const Sense& o) {
        return o.asc == s.asc && o.ascq == s.ascq;
    });
    if (dup) return;
    // Power-on/reset supersedes everything else queued (SAM-5 5.14).
    if (s.asc == 0x29) q.clear();
    if (q.size() >= 16) q.pop_back();
    q.push_back(s);
}

std::optional<Sense> NexusState::take_ua(std::uint16_t lun) {
    std::lock_guard lk(mu_);
    auto it = ua_.find(lun);
    if (it == ua_.end() || it->second.empty()) return std::nullopt;
    Sense s = it->second.front();
    it->second.pop_front();
    return s;
}

std::optional<Sense> NexusState::peek_ua(std::uint16_t lun) const {
    std::lock_guard lk(mu_);
    auto it = ua_.find(lun);
    if (it == ua_.end() || it->second.empty()) return std::nullopt;
    return it->second.front();
}

void NexusState::clear_ua(std::uint16_t lun) {
    std::lock_guard lk(mu_);
    ua_.erase(lun);
}

}  // namespace vstor::scsi
