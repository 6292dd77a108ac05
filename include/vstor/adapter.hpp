// The virtual adapter (HBA): targets, LUNs and I_T nexuses. What front ends and embedders use.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <vector>

#include "vstor/backend.hpp"
#include "vstor/command.hpp"
#include "vstor/lun_address.hpp"
#include "vstor/lun_events.hpp"

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

struct LunOptions {
    bool read_only = false;    // write-protected (DATA PROTECT), in addition to the backend's own
    bool removable = false;    // RMB=1, START STOP UNIT may eject
    std::uint32_t physical_block_size = 0;  // reported physical block (READ CAPACITY(16) LBPPB); 0 = logical
    // SANITIZE OVERWRITE writes at most this many bytes per second (0 = as fast as the backend
    // takes them), so that sanitizing one LUN leaves the shared disk's bandwidth to the others.
    std::uint64_t sanitize_rate = 0;
    // Identity: a value set here wins over the backend's (Backend::identity), which wins over
    // the default shown.
    std::string vendor = "";          // INQUIRY T10 vendor (8 chars); default "VSTOR"
    std::string product = "";         // INQUIRY product (16 chars); default by backend kind: "MEM-DISK", ...
    std::string serial = "";          // unit serial; default derived from target + LUN
    std::string pr_state_path = "";   // where APTPL persistent reservations are kept ("" = none)
    // The operator's name for the LUN (serve uses it as the NBD export name); initiators never see
    // it. Carried by the LUN's events (LunEvent::lun_name) and LunInfo.
    std::string name = "";
};

struct LunInfo {
    std::uint16_t lun;
    std::string backend_kind;
    std::uint32_t block_size;
    std::uint64_t block_count;
    bool read_only;
    bool removable;
    bool thin;
    bool medium_present = true;
    bool reserved = false;            // an SPC-2 or persistent reservation is held
    std::string reservation_holder;   // initiator port of the holder ("" for all-registrants types)
    std::uint64_t in_flight = 0;      // commands inside the engine now
    std::string name;                 // LunOptions::name
};

// Per-LUN counters since the LUN was added (Adapter::lun_stats).
struct LunStats {
    std::uint64_t reads = 0, writes = 0, other = 0;  // commands completed, by data direction
    std::uint64_t bytes_read = 0, bytes_written = 0;
    std::uint64_t errors = 0;                        // completed with a status other than GOOD
    // Completion latency percentiles in microseconds (upper bound of a power-of-two bucket).
    std::uint64_t p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
};

struct TargetInfo {
    std::uint16_t id;
    std::string name;
    std::vector<LunInfo> luns;
};

// Outcome of control operations (add/remove/resize): a value or a message, never a throw.
template <typename T>
struct Result {
    std::optional<T> value;
    std::string error;  // non-empty on failure
    explicit operator bool() const { return value.has_value(); }
};
using Status = Result<bool>;
inline Status ok_status() { return Status{true, {}}; }
inline Status error_status(std::string msg) { return Status{std::nullopt, std::move(msg)}; }

// An I_T nexus: one initiator port talking to one target port. Unit attentions and
// reservations are kept per nexus. Obtained from Adapter::open_nexus; closed when released.
class Nexus {
public:
    virtual ~Nexus() = default;
    virtual const std::string& initiator_port() const = 0;  // e.g. "iqn.x,i,0x23d000000001"
    virtual std::uint16_t target_id() const = 0;
    virtual std::uint16_t relative_port() const = 0;
};

class Adapter {
public:
    virtual ~Adapter() = default;

    static std::unique_ptr<Adapter> create(std::string name = "vstor");

    // Targets. A target name is the iSCSI IQN (or any unique string).
    virtual Result<std::uint16_t> add_target(const std::string& name) = 0;
    virtual Status remove_target(std::uint16_t target_id) = 0;
    virtual std::optional<std::uint16_t> find_target(const std::string& name) const = 0;

    // LUNs: hot add, remove and resize while I/O runs; the nexuses of the target get the unit
    // attentions SPC requires (REPORTED LUNS DATA HAS CHANGED, CAPACITY DATA HAS CHANGED).
    virtual Status add_lun(std::uint16_t target_id, std::uint16_t lun,
                           std::shared_ptr<Backend> backend, LunOptions opts = {}) = 0;
    // remove_lun returns once the LUN's backend was destroyed (a removed file or image can be
    // added again at once), waiting at most 15 s for commands still running on it; it does not
    // wait for a front end still sending data the backend lent (the backend closes after). The
    // LUN is gone from targets() and its removal event delivered before the backend closes, and
    // the adapter's other changes do not wait for that close.
    virtual Status remove_lun(std::uint16_t target_id, std::uint16_t lun, bool force = false) = 0;
    virtual Status resize_lun(std::uint16_t target_id, std::uint16_t lun,
                              std::uint64_t new_block_count) = 0;
    virtual std::vector<TargetInfo> targets() const = 0;

    // Administrative write protection (in addition to the backend's own and the mode page's SWP).
    virtual Status set_lun_read_only(std::uint16_t target_id, std::uint16_t lun, bool read_only) = 0;
    // Eject (present=false) or insert the medium of a removable LUN, as an operator at the drive
    // would. Refused while an initiator prevents removal, unless force.
    virtual Status set_medium(std::uint16_t target_id, std::uint16_t lun, bool present, bool force = false) = 0;
    virtual std::optional<LunStats> lun_stats(std::uint16_t target_id, std::uint16_t lun) const = 0;
    // LUN events (vstor/lun_events.hpp): `callback` sees every LUN add/remove/resize/medium change
    // made after this returns, until the returned subscription ends. It runs inside the Adapter
    // call that changes a LUN, before that call returns, and must not block.
    virtual LunSubscription subscribe_lun_events(LunEventCallback callback) = 0;

    // StorPort addressing: PathId (bus) / TargetId / Lun. Bus 0 only; target = target id.
    virtual std::optional<LunAddress> storport_address(std::uint8_t path_id, std::uint8_t target,
                                                       std::uint8_t lun) const;

    // `visible_luns`: LUN masking — the only LUNs this nexus may see and address (others answer
    // LOGICAL UNIT NOT SUPPORTED and are left out of REPORT LUNS); nullopt = every LUN.
    virtual std::shared_ptr<Nexus> open_nexus(std::uint16_t target_id,
                                              const std::string& initiator_port,
                                              std::uint16_t relative_port = 1,
                                              std::optional<std::vector<std::uint16_t>> visible_luns = std::nullopt) = 0;

    // The front end lost this I_T nexus (logout, connection drop): its tasks are aborted and its
    // SPC-2 reservations released (SPC-5 5.14.2); persistent reservations stay. It does not wait
    // for the nexus's commands still in a backend (their results are dropped): the reservation
    // goes once they have completed, before this returns when none is running.
    virtual void nexus_lost(const std::shared_ptr<Nexus>& nexus) = 0;

    // Submit a command; `done` is called exactly once, inline or from another thread.
    virtual void submit(Command cmd, CompletionCallback done) = 0;
    // Performs a task management function and waits for it: as long as the affected tasks run.
    virtual TmfResponse task_management(const TmfRequest& req) = 0;

    // Flush every backend, all at once, and wait for them (orderly shutdown). False when any flush
    // failed (each failure is logged at error level naming the LUN): data the initiators were told
    // is written may not be durable.
    virtual bool flush_all() = 0;

    // flush_all for a shutdown that must end: every LUN's flush starts at once, and the wait ends
    // when all have answered, after `limit`, or once `stop` is requested (a second Ctrl+C, say).
    // A flush that has not answered by then is given up on and logged at error level naming the
    // LUN (writes acknowledged from its volatile cache may be lost): false, as for a failed one.
    // A flush given up on may still answer later; it then touches nothing of the caller's.
    // (Appended after the other members, so that libvstor.so.2's vtable keeps their places.)
    virtual bool flush_all_within(std::chrono::milliseconds limit, std::stop_token stop = {}) = 0;

    // task_management without a thread that waits: `done` gets the response once every task the
    // function affects has terminated (SAM-5 7.1), on this thread when none is running, else on
    // the engine's worker pool when the last one leaves its backend. A backend that never answers
    // a command never completes the functions that wait for it; others proceed meanwhile. `done`
    // must not block. (Appended, as flush_all_within was, so the vtable keeps its places.)
    virtual void task_management_async(const TmfRequest& req, TmfCallback done) = 0;
};

}  // namespace vstor

#pragma GCC visibility pop
