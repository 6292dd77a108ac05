// A backend whose data other gateways (other vstor processes, other machines) serve as well,
// e.g. one Ceph RBD image exported by two `vstor serve`: every gateway must present it as the
// same logical unit, so that a multipath initiator sees one disk with several paths.
//
// A backend opts in by deriving from SharedLun as well as from Backend (the engine finds it with
// dynamic_cast; Backend itself is unchanged, so backends built without it keep working):
//
//   class MyBackend final : public vstor::Backend, public vstor::SharedLun { ... };
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "vstor/reservation_store.hpp"

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

class Adapter;

// Asymmetric access state of a target port group (SPC-5 6.37, REPORT TARGET PORT GROUPS).
enum class AccessState : std::uint8_t {
    active_optimized = 0x0,
    active_non_optimized = 0x1,
    standby = 0x2,
    unavailable = 0x3,
    transitioning = 0xf,
};

class SharedLun {
public:
    virtual ~SharedLun() = default;

    // An identifier of the data that every gateway computes alike without talking to the others
    // (RBD: the cluster's fsid, the pool id and the image id). The logical unit's NAA designator
    // (VPD page 83h) is derived from it instead of from the target name and LUN number, and so is
    // the unit serial number (VPD page 80h) unless the backend's identity or LunOptions name one.
    // Called once, on the thread calling Adapter::add_lun. Empty: not shared after all.
    virtual std::string unit_id() const = 0;

    // ALUA: the state of this gateway's target ports for this LUN now (RBD: active/optimized
    // unless another client holds the image's exclusive lock, then active/non-optimized). Any
    // thread, network loops included: return at once.
    virtual AccessState access_state() const = 0;
    // From now on call `changed` whenever access_state() may have changed, from a thread of the
    // backend's own, never while holding a lock the backend's other entry points take. An empty
    // function stops the calls: watch_access_state({}) returns once no call is running any more.
    // Also call it when block_count() changed by itself (another gateway resized the data, seen
    // when reconnecting): the engine then takes the new capacity as Adapter::resize_lun does
    // (CAPACITY DATA HAS CHANGED to every nexus of the LUN).
    virtual void watch_access_state(std::function<void()> changed) = 0;

    // Where this LU's persistent reservations live, shared with the other gateways
    // (vstor/reservation_store.hpp); asked once, when the LUN is added. Null (the default): each
    // gateway keeps its own, as for a LUN that is not shared.
    virtual std::shared_ptr<ReservationStore> reservation_store() { return nullptr; }
};

// One target port group as REPORT TARGET PORT GROUPS lists it.
struct TargetPortGroup {
    std::uint16_t group = 0;
    AccessState state = AccessState::active_optimized;
    std::vector<std::uint16_t> relative_ports;  // ascending
};

// Optional, besides SharedLun: the gateways of a shared LU tell each other their target port
// groups, so that REPORT TARGET PORT GROUPS on any of them lists every group with its state. A
// backend opts in by deriving from this too (found with dynamic_cast like SharedLun, whose
// interface and ABI therefore stay as they were); without it a gateway lists its own group only.
class SharedLunPortGroups {
public:
    virtual ~SharedLunPortGroups() = default;

    // This gateway's target port group and the relative ports in it that initiators use (called
    // again whenever they change), for the other gateways to see. Any thread, network loops
    // included: return at once, publish later.
    virtual void publish_port_group(std::uint16_t group, std::vector<std::uint16_t> relative_ports) = 0;
    // The other gateways' groups as this one sees them now (never its own), each with its state:
    // e.g. unavailable for a gateway that stopped answering. Any thread: return at once.
    virtual std::vector<TargetPortGroup> peer_port_groups() const = 0;
};

// ALUA (SPC-5 5.16): the target port group of `adapter`'s ports, as VPD page 83h gives it
// (default 1). Gateways that serve one shared logical unit give their ports different groups,
// and different relative port identifiers (Adapter::open_nexus). Nexuses opened afterwards are
// in the new group.
void set_target_port_group(Adapter& adapter, std::uint16_t group);

}  // namespace vstor

#pragma GCC visibility pop
