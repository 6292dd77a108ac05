// ALUA of a shared logical unit (vstor/shared_lun.hpp): implicit asymmetric access (TPGS 01b),
// the state of this gateway's target port group as the backend reports it (RBD: who holds the
// image's exclusive lock), and ASYMMETRIC ACCESS STATE CHANGED on every nexus of the LU when
// that state changes; the other gateways' target port groups when the backend shares them
// (SharedLunPortGroups). LUNs that are not shared have none of it (LogicalUnit::alua() is null).
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <vector>

#include "vstor/shared_lun.hpp"

namespace vstor::scsi {

class LogicalUnit;

class LunAlua {
public:
    // Starts following the backend's state; `lu` owns this object and outlives it.
    LunAlua(LogicalUnit& lu, SharedLun& shared);
    // Stops the backend's calls (waits for one in flight).
    ~LunAlua();
    LunAlua(const LunAlua&) = delete;
    LunAlua& operator=(const LunAlua&) = delete;

    AccessState state() const { return static_cast<AccessState>(state_.load(std::memory_order_acquire)); }
    // The state changed since the LU was added (REPORT TARGET PORT GROUPS status code 02h:
    // altered by implicit asymmetric access behavior).
    bool changed_implicitly() const { return changed_.load(std::memory_order_acquire); }

    // This gateway's target port group `group`, and a relative port of it an initiator connected
    // through (0: none, the group alone); published to the other gateways when the backend
    // implements SharedLunPortGroups. Any thread (AdapterImpl::add_lun, open_nexus).
    void note_port(std::uint16_t group, std::uint16_t relative_port);
    // The other gateways' groups (SharedLunPortGroups::peer_port_groups; none without it).
    std::vector<TargetPortGroup> peer_groups() const;

private:
    void on_change();  // the backend's callback

    LogicalUnit& lu_;
    SharedLun& shared_;
    std::mutex mu_;  // serializes on_change: one comparison and one set of unit attentions at a time
    std::atomic<std::uint8_t> state_;
    std::atomic<bool> changed_{false};
    SharedLunPortGroups* const groups_;  // null: the backend does not share its groups
    std::mutex ports_mu_;                // guards group_, ports_
    std::uint16_t group_ = 0;
    std::set<std::uint16_t> ports_;
};

}  // namespace vstor::scsi
