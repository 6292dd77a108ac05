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
    : lu_(lu), shared_(shared), state_(static_cast<std::uint8_t>(shared.access_state())) {
    shared_.watch_access_state([this] { on_change(); });
}

LunAlua::~LunAlua() { shared_.watch_access_state({}); }

void LunAlua::on_change() {
    std::lock_guard lk(mu_);
    const AccessState now = shared_.access_state();
    const auto before = static_cast<AccessState>(state_.exchange(static_cast<std::uint8_t>(now)));
    if (before == now) return;
    changed_.store(true, std::memory_order_release);
    spdlog::info("{} LUN {}: target port group now {} (was {})", lu_.target().name(), lu_.lun(), name(now),
                 name(before));
    lu_.target().broadcast_ua(lu_.lun(), sense::ua_asymmetric_access_state_changed());
}

}  // namespace vstor::scsi
