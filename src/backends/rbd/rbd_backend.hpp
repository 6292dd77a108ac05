// A Ceph RBD image through librbd's asynchronous C API. Every read, write, flush, discard and
// write-zeroes is an rbd_aio_* call whose completion callback (on a librbd thread) calls `done`, so
// nothing blocks the caller's event loop. Connecting to the cluster and opening the image happen in
// open(), at LUN creation (serve start-up or `vstor ctl lun add`, never a network loop).
// Thin: unmap is rbd discard with rbd_skip_partial_discard off (a discard smaller than an object
// would otherwise leave the data in place); allocation status comes from rbd_diff_iterate2.
// Write cache: librbd's own cache (`rbd cache`, on by default in Ceph) is the LUN's volatile write
// cache; FLUSH is rbd_aio_flush and a FUA write is the write followed by one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "backends/rbd/rbd_lock_watch.hpp"
#include "backends/rbd/rbd_tpg_peers.hpp"
#include "util/bounded_thread.hpp"
#include "vstor/backend.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor::backends {

class RbdPrStore;
class RbdSizeWatch;

struct RbdOptions {
    std::string pool;
    std::string image;
    std::string conf;       // ceph.conf path; empty: librados' default search ($CEPH_CONF, /etc/ceph)
    std::string client_id;  // cephx user without "client." (admin); empty: librados' default
    std::uint32_t block_size = 512;
    bool read_only = false;
    // Writes stalled this long while another client holds the exclusive lock: that client is
    // taken for dead and its lock broken (stall_ms= in the LUN spec; rbd_lock_watch.hpp).
    std::chrono::milliseconds stall{3000};
    // How long another gateway's port group stays listed after its heartbeat stopped before the
    // lock holder removes it (forget_ms= in the LUN spec; 0: the default, RbdTpgPeers::forget).
    std::chrono::milliseconds forget{0};
};

class RbdBackend final : public Backend, public SharedLun, public SharedLunPortGroups {
public:
    // Connects, opens the image and reads its size; nullptr with `error` set on failure. Blocks
    // (bounded by client_mount_timeout): call it off the network loops.
    static std::unique_ptr<RbdBackend> open(const RbdOptions& opts, std::string& error);
    ~RbdBackend() override;

    std::string kind() const override { return "rbd"; }
    std::uint32_t block_size() const override { return opts_.block_size; }
    std::uint64_t block_count() const override { return size_bytes_.load() / opts_.block_size; }
    BackendCaps caps() const override;
    BackendIdentity identity() const override;
    // "ceph:FSID:POOL-ID:IMAGE-ID": the same on every gateway that opens this image, so all of
    // them present one logical unit (NAA designator, serial).
    std::string unit_id() const override { return unit_id_; }
    // Active/optimized unless another client holds the image's exclusive lock (rbd_lock_watch.hpp).
    AccessState access_state() const override;
    void watch_access_state(std::function<void()> changed) override;
    // Every gateway's target port group, through a registry next to the image (rbd_tpg_peers.hpp).
    void publish_port_group(std::uint16_t group, std::vector<std::uint16_t> relative_ports) override;
    std::vector<TargetPortGroup> peer_port_groups() const override;
    // The persistent reservations every gateway of this image shares (rbd_pr_store.hpp).
    std::shared_ptr<ReservationStore> reservation_store() override;

    void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) override;
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) override;
    void flush(IoCallback done) override;
    void unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) override;
    void write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) override;
    // rbd_aio_compare_and_write: atomic in the cluster, against every client of the image.
    void compare_and_write(std::uint64_t lba, std::span<const std::byte> verify, std::span<const std::byte> data,
                           bool fua, CompareCallback done) override;
    void write_same(std::uint64_t lba, std::uint64_t count, std::span<const std::byte> pattern, bool fua,
                    IoCallback done) override;
    std::vector<Extent> allocation_status(std::uint64_t lba, std::uint64_t count) override;
    IoStatus resize(std::uint64_t new_block_count) override;

    // The image's size in bytes as librbd sees it now (the LUN's may be smaller: whole blocks).
    std::uint64_t image_bytes() const { return size_bytes_.load(); }

    struct Handles;  // rados_t, rados_ioctx_t, rbd_image_t (rbd_handles.hpp)

private:
    RbdBackend(RbdOptions opts, std::shared_ptr<Handles> h, std::uint64_t size, bool cache, std::string id,
               std::string unit_id);
    // The connection to submit on now (the data path holds it until its request completes).
    std::shared_ptr<Handles> handles() const;
    // What a recovery read of a new connection on a thread it need not wait for (each read may
    // refresh the image from its header, waiting for an OSD), so that setting the connection up
    // afterwards asks the cluster nothing (rbd_recover.cpp).
    struct Looked {
        RbdLockWatch::Known lock;
        std::uint64_t features = 0;
        std::uint64_t size = 0;  // 0: could not be read
    };
    // The lock watch and the port-group registry of connection `h` (null where not wanted); the
    // registry starts from what an earlier connection's had seen (`carried`). Without `looked`,
    // the features and the lock are read here (LUN creation may block).
    void attach(const std::shared_ptr<Handles>& h, std::unique_ptr<RbdTpgPeers>& peers,
                std::unique_ptr<RbdLockWatch>& lock_watch, RbdTpgPeers::Memory carried = {},
                const Looked* looked = nullptr);
    void notify_access_changed();
    // Recovery after a blocklisting (rbd_recover.cpp): a thread of its own watches the current
    // connection's fenced flag and replaces the connection with a new client.
    void start_recovery();
    void stop_recovery();
    void recovery_loop();
    bool recover(std::shared_ptr<Handles> old);  // false: stopped before it was back
    // A new connection, and what setting it up needs to know of it (`looked`), from a thread of
    // its own that a stop does not wait for; false: stopping.
    bool reconnect(std::shared_ptr<Handles>& fresh, Looked& looked, std::string& error);
    static void look(const Handles& h, bool read_only, Looked& out);
    bool recovery_wait(std::chrono::milliseconds d);  // false: stopping
    // Closes `old` once unused, on the thread returned; retire() waits at most `wait` for it
    // (rbd_recover.cpp).
    static util::BoundedThread start_retire(std::shared_ptr<Handles> old, const std::string& what);
    static void retire(std::shared_ptr<Handles> old, const std::string& what, std::chrono::milliseconds wait);
    void note_lost_cache(Handles& old);
    // What the reservation store calls when the cluster refuses it as blocklisted: marks `h`
    // fenced, as a data call would (the store's I/O context keeps `h` alive).
    static std::function<void()> fence_of(const std::shared_ptr<Handles>& h);
    // The image's size as read now (rbd_size_watch.hpp, or a reconnection): a new one is the
    // LUN's from now on, and the engine, told through the access-state callback, takes it as a
    // resize (CAPACITY DATA HAS CHANGED, the LUN event). `when` ends the log line.
    void size_seen(std::uint64_t bytes, const char* when);
    std::unique_ptr<RbdSizeWatch> watch_size(const std::shared_ptr<Handles>& h);

    // Destruction waits this long at most for a cluster that does not answer (see ~RbdBackend).
    static constexpr std::chrono::milliseconds kTeardownWait{10000};

    const RbdOptions opts_;
    const std::string what_;  // "rbd:POOL/IMAGE" for the log
    mutable std::shared_mutex mu_;  // guards h_, peers_, lock_watch_, size_watch_ (swapped by recovery)
    std::shared_ptr<Handles> h_;
    std::atomic<std::uint64_t> size_bytes_;
    const bool write_cache_;  // rbd cache is on: flush and FUA matter
    const std::string image_id_;
    const std::string unit_id_;
    std::unique_ptr<RbdTpgPeers> peers_;        // null: read-only (it would write the registry)
    std::vector<TargetPortGroup> last_peers_;   // the peers as a recovery found them (rbd_recover.cpp)
    std::unique_ptr<RbdLockWatch> lock_watch_;  // null: read-only, or no exclusive-lock feature
    std::unique_ptr<RbdSizeWatch> size_watch_;  // resizes by other clients (rbd_size_watch.hpp)
    std::shared_ptr<RbdPrStore> pr_store_;      // set by open(); closed before the cluster connection
    std::mutex cb_mu_;                          // guards changed_, group_, ports_
    std::function<void()> changed_;             // the engine's ALUA state callback
    std::uint16_t group_ = 0;                   // what publish_port_group said last
    std::vector<std::uint16_t> ports_;
    std::atomic<bool> recovering_{false};       // reconnecting: the ports are transitioning
    // A recovery lost cached writes: fail the next flush (shared with every connection's ledger).
    const std::shared_ptr<std::atomic<bool>> lost_cache_ = std::make_shared<std::atomic<bool>>(false);
    std::mutex rec_mu_;                         // guards rec_stop_
    std::condition_variable rec_cv_;
    bool rec_stop_ = false;
    std::thread rec_thread_;
};

// librbd's negative errno as the backend status the engine maps to sense.
IoStatus rbd_status(int err);

}  // namespace vstor::backends
