// Who holds an RBD image's exclusive lock, seen from one gateway, as the LUN's ALUA state
// (vstor/shared_lun.hpp): active/optimized while this client holds it or nobody does (taking a
// free lock costs nothing), active/non-optimized while another client does (each write here
// would first have to fetch the lock from it). librbd moves the lock between live clients by
// itself when one writes; a holder that died keeps it until its watch expires (about 30 s), so
// when this gateway's I/O has made no progress for kStall while a dead or unresponsive client
// holds the lock, it breaks that lock (rbd_lock_break, which blocklists the holder first: it
// can never write again) and librbd then acquires it for the waiting writes.
#pragma once

#include <rbd/librbd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "vstor/shared_lun.hpp"

namespace vstor::backends {

// I/O of one image as the lock watch sees it: how much is in flight, and when it last moved.
struct RbdIoProgress {
    std::atomic<std::int64_t> in_flight{0};
    std::atomic<std::int64_t> last_progress_ms{0};  // steady clock
    void started();
    void finished();
    static std::int64_t now_ms();
};

class RbdLockWatch {
public:
    // I/O stuck this long while another client holds the lock: that client is taken for dead.
    static constexpr std::chrono::milliseconds kStall{3000};

    RbdLockWatch(rbd_image_t image, std::string what, const RbdIoProgress& io);
    ~RbdLockWatch();  // stops the thread (after a librbd call in flight returns)
    RbdLockWatch(const RbdLockWatch&) = delete;
    RbdLockWatch& operator=(const RbdLockWatch&) = delete;

    AccessState state() const { return static_cast<AccessState>(state_.load(std::memory_order_acquire)); }
    void watch(std::function<void()> changed);  // SharedLun::watch_access_state

private:
    void run();
    void poll(int round);
    // The other holder of the lock ("" when none or unknown); false when the lookup failed.
    bool other_owner(std::string& owner);
    void break_lock(const std::string& owner);

    const rbd_image_t image_;
    const std::string what_;  // "rbd:POOL/IMAGE" for the log
    const RbdIoProgress& io_;
    std::atomic<std::uint8_t> state_{static_cast<std::uint8_t>(AccessState::active_optimized)};
    std::string owner_;   // the other holder last seen (watch thread only)
    std::string broken_;  // the holder whose lock this watch broke last (watch thread only)
    std::mutex cb_mu_;    // guards changed_; held while it runs
    std::function<void()> changed_;
    std::mutex mu_;  // guards stop_
    std::condition_variable cv_;
    bool stop_ = false;
    std::thread thread_;
};

}  // namespace vstor::backends
