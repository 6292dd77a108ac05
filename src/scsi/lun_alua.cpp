#include "scsi/lun_alua.hpp"

#include <spdlog/spdlog.h>

#include "scsi/logical_unit.hpp"
#include "scsi/target.hpp"

namespace vstor::scsi {

namespace {
const char* name(AccessState s) {
    switch (s) {
    case AccessState::active_optimized: return "active/optimized";
    case AccessState::active_non_optimized: return "active/non-optimized";
    case AccessState::standby: return "standby";
    case AccessState::unavailable: return "unavailable";
    case AccessState::transitioning: return "transitioning";
    }
    return "?";
}
}  // namespace

LunAlua::LunAlua(LogicalUnit& lu, SharedLun& shared)
    : lu_(lu),
      shared_(shared),
      state_(static_cast<std::uint8_t>(shared.access_state())),
      groups_(dynamic_cast<SharedLunPortGroups*>(&shared)) {
    shared_.watch_access_state([this] { on_change(); });
}

LunAlua::~LunAlua() { shared_.watch_access_state({}); }

void LunAlua::note_port(std::uint16_t group, std::uint16_t relative_port) {
    if (!groups_) return;
    std::lock_guard lk(ports_mu_);
    bool changed = group != group_;
    if (changed) ports_.clear();  // ports belong to one group (set_target_port_group moved them)
    if (relative_port && ports_.insert(relative_port).second) changed = true;
    group_ = group;
    if (changed) groups_->publish_port_group(group, std::vector<std::uint16_t>(ports_.begin(), ports_.end()));
}

std::vector<TargetPortGroup> LunAlua::peer_groups() const {
    return groups_ ? groups_->peer_port_groups() : std::vector<TargetPortGroup>{};
}

void LunAlua::on_change() {
    std::lock_guard lk(mu_);
    // The data was resized through another gateway (RBD: its header watch, or a reconnection):
    // as a resize (the adapter's hook, LogicalUnit::resized_elsewhere).
    if (const auto blocks = lu_.backend().block_count(); blocks && blocks != lu_.block_count())
        lu_.resized_elsewhere();
    const AccessState now = shared_.access_state();
    const auto before = static_cast<AccessState>(state_.exchange(static_cast<std::uint8_t>(now)));
    if (before == now) return;
    changed_.store(true, std::memory_order_release);
    spdlog::info("{} LUN {}: target port group now {} (was {})", lu_.target().name(), lu_.lun(), name(now),
                 name(before));
    lu_.target().broadcast_ua(lu_.lun(), sense::ua_asymmetric_access_state_changed());
}

}  // namespace vstor::scsi
