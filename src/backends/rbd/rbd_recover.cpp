// Recovery after a blocklisting. A client that another gateway fenced (it broke this one's
// exclusive lock) or that an operator blocklisted (`ceph osd blocklist add`) can never talk to
// the cluster again: every call fails with EBLOCKLISTED (ESHUTDOWN). The first call that does
// marks its connection fenced (RbdIoProgress); a thread of the backend's own sees that, reports
// the ports transitioning (NOT READY 04h/0Ah), connects again as a new client (a new instance
// id: the blocklist entry names the old one), reopens the image, moves the reservation store's
// watch to it, starts a lock watch and a registry on it, swaps it in and reports the ports'
// state again (ASYMMETRIC ACCESS STATE CHANGED). The old connection is closed last, off the
// data path, once no request holds it any more.
//
// No acknowledged write is lost or reordered: a write that failed with ESHUTDOWN got an error
// (the initiator retries it on the new connection); one acknowledged before the fencing is in
// the cluster, or, without FUA or a flush on a cached image, in the old connection's volatile
// write cache (WCE=1). Those are lost with the old client, so the next SYNCHRONIZE CACHE fails
// once (MEDIUM ERROR, WRITE ERROR) instead of vouching for them.
#include <rbd/librbd.h>

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>

#include "backends/rbd/rbd_backend.hpp"
#include "backends/rbd/rbd_handles.hpp"
#include "backends/rbd/rbd_lock_watch.hpp"
#include "backends/rbd/rbd_pr_store.hpp"
#include "backends/rbd/rbd_size_watch.hpp"
#include "backends/rbd/rbd_tpg_peers.hpp"
#include "util/bounded_thread.hpp"

namespace vstor::backends {

namespace {
constexpr auto kFenceCheck = std::chrono::milliseconds(100);
constexpr auto kFirstRetry = std::chrono::milliseconds(500);
constexpr auto kMaxRetry = std::chrono::milliseconds(5000);
constexpr auto kCloseWait = std::chrono::seconds(10);  // requests in flight on, then closing, a fenced connection
}  // namespace

void RbdBackend::start_recovery() {
    rec_thread_ = std::thread([this] { recovery_loop(); });
}

void RbdBackend::stop_recovery() {
    {
        std::lock_guard lk(rec_mu_);
        rec_stop_ = true;
    }
    rec_cv_.notify_all();
    if (rec_thread_.joinable()) rec_thread_.join();
}

bool RbdBackend::recovery_wait(std::chrono::milliseconds d) {
    std::unique_lock lk(rec_mu_);
    return !rec_cv_.wait_for(lk, d, [this] { return rec_stop_; });
}

void RbdBackend::recovery_loop() {
    while (recovery_wait(kFenceCheck)) {
        auto h = handles();
        if (h->progress.fenced.load(std::memory_order_acquire) && !recover(std::move(h))) return;
    }
}

bool RbdBackend::recover(std::shared_ptr<Handles> old) {
    const auto t0 = std::chrono::steady_clock::now();
    spdlog::error("{}: this gateway was blocklisted (another one broke its exclusive lock, or an operator fenced "
                  "it): its ports are transitioning while it reconnects as a new client",
                  what_);
    recovering_.store(true, std::memory_order_release);
    notify_access_changed();
    RbdTpgPeers::Memory carried;
    {
        // What works on the old connection stops first (outside mu_: their threads may be
        // calling the engine, which asks access_state()).
        std::unique_ptr<RbdLockWatch> lock_watch;
        std::unique_ptr<RbdTpgPeers> peers;
        std::unique_ptr<RbdSizeWatch> size_watch;
        {
            std::unique_lock lk(mu_);
            lock_watch = std::move(lock_watch_);
            size_watch = std::move(size_watch_);
            peers = std::move(peers_);
            // REPORT TARGET PORT GROUPS goes on listing the other gateways' groups meanwhile, as
            // last seen, not as unavailable: this gateway cannot see them now, but nothing says
            // they changed, and a descriptor is the group's state as this device server knows it
            // (SPC-5 6.37). Initiators that take one path's answer for every group (Windows'
            // MSDSM, ESXi's ALUA SATP) would otherwise stop using the paths that still work,
            // while Linux multipath's alua prioritizer reads only the asked path's own group,
            // which says transitioning. Dropping them instead (the old behaviour) looked to such
            // initiators like the groups were gone.
            if (peers) last_peers_ = peers->peers(), carried = peers->memory();
        }
        // In this order, as in ~RbdBackend: the lock watch's thread reports to the registry
        // (peers) until the watch is gone, so the registry goes last.
        lock_watch.reset();
        size_watch.reset();
        peers.reset();
    }
    std::shared_ptr<Handles> fresh;
    Looked looked;
    for (auto delay = kFirstRetry;; delay = std::min(delay * 2, kMaxRetry)) {
        std::string error;
        if (!reconnect(fresh, looked, error)) return false;
        if (fresh && pr_store_ && !pr_store_->rebind(fresh->cluster, error, fresh, fence_of(fresh))) fresh.reset();
        if (fresh) break;
        spdlog::warn("{}: reconnecting failed ({}), trying again in {} ms", what_, error, delay.count());
        if (!recovery_wait(delay)) return false;
    }
    // From here on nothing asks the cluster (reconnect() read what is needed): a recovery that
    // a stop interrupts ends at once.
    std::unique_ptr<RbdLockWatch> lock_watch;
    std::unique_ptr<RbdTpgPeers> peers;
    fresh->cache.set_lost_flag(lost_cache_);
    attach(fresh, peers, lock_watch, std::move(carried), &looked);
    // The image may have been resized through another gateway while this one could not hear of
    // it (its size watch died with the old client): taken as any resize seen elsewhere.
    if (looked.size) size_seen(looked.size, "while this gateway was fenced");
    fresh->size_gate.set(looked.size);  // what its completions check (0: not known)
    auto size_watch = watch_size(fresh);  // rbd_update_watch registers a callback locally
    {
        std::unique_lock lk(mu_);
        note_lost_cache(*old);  // before any flush reaches the new connection
        h_ = fresh;
        peers_ = std::move(peers);
        lock_watch_ = std::move(lock_watch);
        size_watch_ = std::move(size_watch);
    }
    recovering_.store(false, std::memory_order_release);
    notify_access_changed();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    spdlog::warn("{}: reconnected to the cluster as a new client after {} ms", what_, ms.count());
    // The old connection closes once its last request ended; waited for at most kCloseWait, and
    // not at all once the backend stops (its teardown has a bound of its own).
    auto closing = start_retire(std::move(old), what_);
    const auto until = std::chrono::steady_clock::now() + kCloseWait;
    while (!closing.done() && std::chrono::steady_clock::now() < until && recovery_wait(kFenceCheck)) {
    }
    if (!closing.join_until({}))
        spdlog::warn("{}: the old connection is not closed yet: left to close in the background", what_);
    return true;
}

// What setting up a new connection asks the cluster, asked here once (each of these calls
// refreshes the image from its header first when it changed, which waits for an OSD).
void RbdBackend::look(const Handles& h, bool read_only, Looked& out) {
    if (rbd_get_size(h.image, &out.size) < 0) out.size = 0;
    if (read_only) return;
    if (rbd_get_features(h.image, &out.features) < 0) out.features = 0;
    RbdLockWatch::other_owner(h.image, out.lock.owner);
    int mine = 0;
    out.lock.mine = rbd_is_exclusive_lock_owner(h.image, &mine) == 0 && mine;
}

// rados_connect is bounded by client_mount_timeout, but rbd_open, rbd_lock_get_owners and the
// reads of look() wait for an OSD as long as it takes. They run on a thread of their own holding
// what it made: a backend that stops leaves it (and the connection it opened, which it closes
// itself).
bool RbdBackend::reconnect(std::shared_ptr<Handles>& fresh, Looked& looked, std::string& error) {
    struct Made {
        std::shared_ptr<Handles> h;
        std::string error;
        Looked looked;
    };
    auto made = std::make_shared<Made>();
    util::BoundedThread worker([made, opts = opts_] {
        made->h = Handles::connect(opts, made->error);
        if (made->h) look(*made->h, opts.read_only, made->looked);
    });
    while (!worker.done()) {
        if (recovery_wait(kFenceCheck)) continue;
        worker.join_until({});  // stopping: not waited for
        spdlog::warn("{}: stopping while reconnecting: the connection attempt (the cluster has not answered) is "
                     "left to finish by itself",
                     what_);
        return false;
    }
    worker.join();
    fresh = std::move(made->h);
    looked = std::move(made->looked);
    error = std::move(made->error);
    return true;
}

std::function<void()> RbdBackend::fence_of(const std::shared_ptr<Handles>& h) {
    return [progress = &h->progress] { progress->fence(); };
}

// From here on, a write the old connection acknowledges from its cache (one in flight at the
// swap) raises the flag by itself (RbdCacheLedger).
void RbdBackend::note_lost_cache(Handles& old) {
    if (const std::uint64_t lost = old.cache.retire())
        spdlog::error("{}: {} writes acknowledged from the old client's write cache and not yet flushed may be lost: "
                      "the next SYNCHRONIZE CACHE fails",
                      what_, lost);
}

// Closes a connection once the requests still holding it completed (rbd_close must not run on a
// librbd thread, where the last completion would drop it), waiting at most `wait` for them and
// for the close (kCloseWait after a recovery, what is left of kTeardownWait when the LUN goes).
// What takes longer (a cluster that does not answer, a lock lookup stuck on it) is left to a
// thread of its own that closes the connection when the last holder let go: the caller goes
// on, and the connection's memory is reclaimed once the cluster answers.
void RbdBackend::retire(std::shared_ptr<Handles> old, const std::string& what, std::chrono::milliseconds wait) {
    if (!old) return;
    if (!start_retire(std::move(old), what).join_for(wait))
        spdlog::warn("{}: closing the connection takes more than {} ms: left to finish in the background", what,
                     wait.count());
}

util::BoundedThread RbdBackend::start_retire(std::shared_ptr<Handles> old, const std::string& what) {
    if (!old) return {};
    return util::BoundedThread([h = std::move(old), what]() mutable {
        for (auto waited = std::chrono::milliseconds(0); h.use_count() > 1; waited += std::chrono::milliseconds(10)) {
            if (waited == kCloseWait)
                spdlog::warn("{}: requests still in flight on the old connection after {} s: it is closed once "
                             "they end",
                             what, kCloseWait.count());
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        h.reset();
    });
}

}  // namespace vstor::backends
