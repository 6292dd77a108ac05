// Who holds an RBD image's exclusive lock, seen from one gateway, as the LUN's ALUA state
// (vstor/shared_lun.hpp): active/optimized while this client holds it or nobody does (taking a
// free lock costs nothing), active/non-optimized while another client does (each write here
// would first have to fetch the lock from it). librbd moves the lock between live clients by
// itself when one writes; a holder that died keeps it until its watch expires (about 30 s), so
// when this gateway's I/O has made no progress for `stall` while a dead or unresponsive client
// holds the lock, it breaks that lock (rbd_lock_break, which blocklists the holder first: it
// can never write again) and librbd then acquires it for the waiting writes.
#pragma once

#include <rbd/librbd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "util/bounded_thread.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor::backends {

// I/O of one image as the lock watch sees it: how much is in flight, and when it last moved.
class RbdTpgPeers;

struct RbdIoProgress {
    std::atomic<std::int64_t> in_flight{0};
    std::atomic<std::int64_t> last_progress_ms{0};  // steady clock
    // A call failed with EBLOCKLISTED (ESHUTDOWN): another gateway broke this client's lock and
    // fenced it off the cluster; nothing it sends will be accepted again.
    std::atomic<bool> fenced{false};
    void started();
    void finished();
    void fence() { fenced.store(true, std::memory_order_release); }
    static std::int64_t now_ms();
};

class RbdLockWatch {
public:
    // The default of `stall`: I/O stuck this long while another client holds the lock means that
    // client is taken for dead (stall_ms= in the LUN spec).
    static constexpr std::chrono::milliseconds kDefaultStall{3000};
    // rbd_lock_get_owners and rbd_lock_break ask an OSD and have no timeout of their own
    // (rados_osd_op_timeout is 0, and setting it would fail the LUN's data I/O as well): they run
    // on a thread of their own, and the watch stops waiting for one that hangs this long.
    static constexpr std::chrono::milliseconds kCallTimeout{10000};
    // How long the destructor waits for a call in flight; then the call thread is left to finish
    // by itself (it holds `keep`, so the connection stays open until the call returns).
    static constexpr std::chrono::milliseconds kStopWait{2000};

    // The lock as a caller already looked it up (a recovery, on a thread it need not wait for).
    struct Known {
        std::string owner;  // the other holder, "" when none
        bool mine = false;  // this client holds it
    };

    // `peers` (may be null) hears this gateway's state after every poll. `keep` (may be null) is
    // what keeps `image` open: the call thread holds it while it runs. Without `known`, the
    // constructor looks the lock up itself (it may wait for an OSD).
    RbdLockWatch(rbd_image_t image, std::string what, const RbdIoProgress& io,
                 std::chrono::milliseconds stall = kDefaultStall, RbdTpgPeers* peers = nullptr,
                 std::shared_ptr<const void> keep = nullptr, const Known* known = nullptr);
    // Stops the threads; waits at most kStopWait for a librbd call in flight (logged if longer).
    ~RbdLockWatch();
    RbdLockWatch(const RbdLockWatch&) = delete;
    RbdLockWatch& operator=(const RbdLockWatch&) = delete;

    AccessState state() const { return static_cast<AccessState>(state_.load(std::memory_order_acquire)); }
    void watch(std::function<void()> changed);  // SharedLun::watch_access_state
    // The other holder of the lock ("" when none or unknown); false when the lookup failed. It
    // asks an OSD, without a timeout. The constructor does it unless given `known`.
    static bool other_owner(rbd_image_t image, std::string& owner);

private:
    // What the watch thread asks of the call thread, and the answer (under CallThread::mu).
    struct Calls {
        bool lookup = false;       // rbd_lock_get_owners wanted
        std::string break_owner;   // rbd_lock_break wanted on this owner
        bool busy = false;         // a call runs ...
        std::int64_t busy_since_ms = 0;  // ... since then
        bool warned = false;       // the hang was logged
        bool answered = false;     // a lookup's result waits in `owner`
        std::string owner;
    };
    // What the two threads work on: shared with them, since a thread stuck in a librbd call
    // outlives the watch (rbd_lock_get_owners, rbd_lock_break and even rbd_is_exclusive_lock_owner,
    // which refreshes the image from an OSD when its header changed, have no timeout).
    struct CallThread {
        std::mutex mu;  // guards stop, calls
        std::condition_variable cv;
        bool stop = false;
        Calls calls;
        // The watch thread: it touches the RbdLockWatch only under life_mu and while !life_stop.
        std::mutex life_mu;
        std::condition_variable life_cv;
        bool life_stop = false;
        rbd_image_t image;
        std::string what;
        std::chrono::milliseconds stall;
        std::shared_ptr<const void> keep;  // the connection, open while the thread may use it
    };
    static void run_watch(RbdLockWatch* self, const std::shared_ptr<CallThread>& ct);  // the watch thread
    static void run_calls(const std::shared_ptr<CallThread>& ct);                       // the call thread
    void poll(int round, int mine);  // `mine`: rbd_is_exclusive_lock_owner's answer
    void fenced();
    void set_state(AccessState now);  // and tell the engine when it changed
    // Asks the call thread for a lookup (and a break); takes a finished lookup's answer.
    void exchange_calls(bool lookup, bool stalled);
    static void break_lock(const CallThread& ct, const std::string& owner);

    const rbd_image_t image_;
    const std::string what_;  // "rbd:POOL/IMAGE" for the log
    const RbdIoProgress& io_;
    const std::chrono::milliseconds stall_;
    RbdTpgPeers* const peers_;
    std::atomic<std::uint8_t> state_{static_cast<std::uint8_t>(AccessState::active_optimized)};
    std::string owner_;   // the other holder last seen (watch thread only)
    std::string broken_;  // the holder whose lock this watch broke last (watch thread only)
    std::mutex cb_mu_;    // guards changed_; held while it runs
    std::function<void()> changed_;
    const std::shared_ptr<CallThread> calls_;
    util::BoundedThread thread_;
    util::BoundedThread call_thread_;
};

}  // namespace vstor::backends
