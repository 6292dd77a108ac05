// The target port groups of every gateway serving one RBD image (vstor/shared_lun.hpp,
// SharedLunPortGroups). Each gateway keeps its entry (rbd_tpg_entry.hpp: group, ports, the state
// it reports for itself, a heartbeat sequence) under the omap key "tpg.<group>" of one RADOS
// object next to the image, `vstor_alua.<image id>`, rewrites it every kBeat and at once when its
// state or ports change, and reads the others' every kRead. Why an object of its own and not the
// image's metadata: rbd_metadata_set is an image operation that needs the exclusive lock (librbd
// asks the holder to do it, or takes the lock), so a heartbeat there would move or wait for the
// lock whose holder it is meant to describe, and would make every client refresh the image
// header; an omap key per group changes atomically and independently of the image.
//
// The state of a peer is the one it reports, except: an entry whose sequence has not moved for
// kStale (this gateway's clock only; no clocks are compared) is `unavailable`: that gateway died,
// was blocklisted, or lost its cluster (and a gateway that cannot read the registry at all sees
// every peer so); and while this gateway holds the exclusive lock, no peer is optimized (its
// entry may lag by one beat). A gateway that stops cleanly removes its entry; a dead one's is
// reported unavailable until it comes back with the same group, or until the gateway holding the
// exclusive lock removes it once it has not moved for forget() (60 s by default): a group gone that long is
// no path an initiator should keep asking about. The removal compares the value first
// (omap_cmp), so an entry its gateway rewrote meanwhile stays. One gateway at a time holds the
// lock, and a fenced one cannot write, so two gateways never race for it.
//
// Every cluster call is asynchronous and polled on the registry's own thread, so neither that
// thread nor any caller waits for an OSD: an operation that does not finish just delays the next.
// One the cluster refuses with EBLOCKLISTED marks the connection fenced, as an I/O would, and the
// backend reconnects (rbd_recover.cpp): the heartbeat is how an idle gateway learns of it.
#pragma once

#include <rados/librados.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/rbd/rbd_tpg_entry.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor::backends {

struct RbdIoProgress;

class RbdTpgPeers {
public:
    static constexpr std::chrono::milliseconds kBeat{1000};
    static constexpr std::chrono::milliseconds kRead{500};
    static constexpr std::chrono::milliseconds kStale{5000};
    static constexpr std::chrono::milliseconds kForget{60000};
    // How long an entry stays after its heartbeat stopped: `configured` (forget_ms= in the LUN
    // spec), else VSTOR_RBD_TPG_FORGET_MS from the environment, else kForget; at least 2 * kStale.
    static std::chrono::milliseconds forget(std::chrono::milliseconds configured = {});

    struct Seen {
        TpgEntry entry;
        std::int64_t moved_ms = 0;  // when its sequence last changed (steady clock)
    };
    using Memory = std::map<std::uint16_t, Seen>;  // the other gateways' entries as last read

    // Works on `object` in the pool of `pool_io` (with an I/O context of its own). Returns at once.
    // `carried`: what a registry of this gateway's earlier connection had seen (a recovery), so
    // a peer's staleness goes on being measured from its last heartbeat seen, not from now.
    // `progress` (may be null; it outlives the registry): the connection's, fenced when a call
    // finds this client blocklisted. `forget_after`: see forget().
    RbdTpgPeers(rados_t cluster, rados_ioctx_t pool_io, std::string object, std::string what,
                Memory carried = {}, RbdIoProgress* progress = nullptr,
                std::chrono::milliseconds forget_after = forget());
    // Stops the thread and removes this gateway's entry (waiting at most 2 s for the cluster).
    ~RbdTpgPeers();
    RbdTpgPeers(const RbdTpgPeers&) = delete;
    RbdTpgPeers& operator=(const RbdTpgPeers&) = delete;

    // This gateway's group and ports (SharedLunPortGroups::publish_port_group). Any thread.
    void set_ports(std::uint16_t group, std::vector<std::uint16_t> ports);
    // This gateway's state and whether it holds the exclusive lock (the lock watch, each poll).
    void set_state(AccessState state, bool holds_lock);
    // The other gateways' groups as seen now (SharedLunPortGroups::peer_port_groups).
    std::vector<TargetPortGroup> peers() const;
    // Whether the registry was read since this object was made (before, peers() holds only what
    // was carried over).
    bool has_read() const;
    Memory memory() const;

private:
    struct Pending;  // one asynchronous operation in flight (the .cpp)
    struct Forget {  // a stale entry to remove: its key and the value read
        std::string key, value;
        std::uint16_t group = 0;
        std::uint64_t seq = 0;
        std::int64_t silent_ms = 0;
    };
    void start_forget();
    void finish_forget();
    void run();
    void tick();
    void start_write();
    void start_read();
    void finish_read(Pending& p);
    void remove_own_entry();
    void refused(int r);  // r < 0: a call's result; EBLOCKLISTED fences the connection

    rados_ioctx_t io_ = nullptr;
    RbdIoProgress* const progress_;
    const std::string object_;
    const std::string what_;
    mutable std::mutex mu_;  // guards everything below but the thread
    std::condition_variable cv_;
    bool stop_ = false;
    TpgEntry own_;              // group 0 until the engine published it
    bool own_dirty_ = false;    // changed since the last write
    bool holds_lock_ = false;
    std::int64_t last_write_ms_ = 0, last_read_ms_ = 0;
    Memory seen_;
    bool read_once_ = false;
    Pending* write_ = nullptr;  // in flight (registry thread only)
    Pending* read_ = nullptr;
    Pending* forget_ = nullptr;
    std::vector<Forget> to_forget_;  // found by the last read (under mu_)
    std::uint16_t forgetting_ = 0;   // the group being removed (under mu_)
    // Entries removed, by group and sequence (under mu_): a read that started before the removal
    // may still return one; it is not a gateway coming back (that one's sequence moves).
    std::map<std::uint16_t, std::uint64_t> forgotten_;
    const std::chrono::milliseconds forget_after_;
    std::thread thread_;
};

}  // namespace vstor::backends
