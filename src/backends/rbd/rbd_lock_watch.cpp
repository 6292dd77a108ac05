#include "backends/rbd/rbd_lock_watch.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "backends/rbd/rbd_tpg_peers.hpp"

namespace vstor::backends {

namespace {
constexpr auto kPollEvery = std::chrono::milliseconds(100);
constexpr int kOwnerLookupEvery = 5;  // rounds: rbd_lock_get_owners asks an OSD, the owner check does not
}  // namespace

std::int64_t RbdIoProgress::now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void RbdIoProgress::started() {
    // An idle image starts its stall clock with its first I/O.
    if (in_flight.fetch_add(1) == 0) last_progress_ms.store(now_ms());
}

void RbdIoProgress::finished() {
    last_progress_ms.store(now_ms());
    in_flight.fetch_sub(1);
}

RbdLockWatch::RbdLockWatch(rbd_image_t image, std::string what, const RbdIoProgress& io,
                           std::chrono::milliseconds stall, RbdTpgPeers* peers, std::shared_ptr<const void> keep,
                           const Known* known)
    : image_(image),
      what_(std::move(what)),
      io_(io),
      stall_(stall),
      peers_(peers),
      calls_(std::make_shared<CallThread>()) {
    calls_->image = image;
    calls_->what = what_;
    calls_->stall = stall;
    calls_->keep = std::move(keep);
    // The state is right before the LUN is added (LUN creation may block; a recovery looked first).
    int mine = 0;
    if (known) {
        owner_ = known->owner;
        mine = known->mine;
    } else {
        other_owner(image_, owner_);
        if (rbd_is_exclusive_lock_owner(image_, &mine) < 0) mine = 0;
    }
    poll(0, mine);
    call_thread_ = util::BoundedThread([ct = calls_] { run_calls(ct); });
    thread_ = util::BoundedThread([this, ct = calls_] { run_watch(this, ct); });
}

// Either thread may be inside a librbd call on a cluster that does not answer: each gets
// kStopWait, then it is left to end by itself when the call returns (its state and the
// connection's `keep` are its own, and the watch thread no longer touches this object), so a
// recovery or a shutdown never hangs on it.
RbdLockWatch::~RbdLockWatch() {
    const auto deadline = std::chrono::steady_clock::now() + kStopWait;  // one bound for both threads
    {
        std::lock_guard life(calls_->life_mu);  // waits for a poll in flight; none starts after
        calls_->life_stop = true;
    }
    calls_->life_cv.notify_all();
    const bool watch_done = thread_.join_until(deadline);
    {
        std::lock_guard lk(calls_->mu);
        calls_->stop = true;
    }
    calls_->cv.notify_all();
    const bool calls_done = call_thread_.join_until(deadline);
    if (!watch_done || !calls_done)
        spdlog::warn("{}: a lock lookup has not returned after {} ms: its thread is left to finish by itself, the "
                     "connection stays open until it does",
                     what_, kStopWait.count());
}

void RbdLockWatch::watch(std::function<void()> changed) {
    std::lock_guard lk(cb_mu_);  // waits for a call in flight
    changed_ = std::move(changed);
}

void RbdLockWatch::run_watch(RbdLockWatch* self, const std::shared_ptr<CallThread>& ct) {
    std::unique_lock lk(ct->life_mu);
    for (int round = 1;; ++round) {
        if (ct->life_cv.wait_for(lk, kPollEvery, [&] { return ct->life_stop; })) break;
        const bool fenced = self->io_.fenced.load(std::memory_order_acquire);
        lk.unlock();
        int mine = 0;
        // No network as a rule, but it refreshes the image first when its header changed.
        if (!fenced && rbd_is_exclusive_lock_owner(ct->image, &mine) < 0) mine = 0;
        lk.lock();
        if (ct->life_stop) break;  // the watch may be gone: touch nothing of it
        self->poll(round, mine);
    }
}

void RbdLockWatch::run_calls(const std::shared_ptr<CallThread>& ct) {
    std::unique_lock lk(ct->mu);
    for (;;) {
        Calls& calls = ct->calls;
        ct->cv.wait(lk, [&] { return ct->stop || calls.lookup || !calls.break_owner.empty(); });
        if (ct->stop) break;
        const std::string victim = std::exchange(calls.break_owner, {});
        const bool lookup = std::exchange(calls.lookup, false);
        calls.busy = true;
        calls.busy_since_ms = RbdIoProgress::now_ms();
        lk.unlock();
        if (!victim.empty()) break_lock(*ct, victim);
        std::string owner;
        const bool ok = lookup && other_owner(ct->image, owner);
        lk.lock();
        calls.busy = false;
        if (calls.warned) spdlog::info("{}: the lock lookup returned", ct->what);
        calls.warned = false;
        if (ok) calls.answered = true, calls.owner = std::move(owner);
    }
    // A thread left behind by its watch releases the connection here, on its own thread (never a
    // librbd one), once the call returned: ct and ct->keep die with the last reference.
}

bool RbdLockWatch::other_owner(rbd_image_t image, std::string& owner) {
    rbd_lock_mode_t mode;
    char* owners[4];
    size_t n = 4;
    const int r = rbd_lock_get_owners(image, &mode, owners, &n);
    if (r == -ENOENT) {  // nobody holds it
        owner.clear();
        return true;
    }
    if (r < 0) return false;
    owner = n ? owners[0] : "";
    rbd_lock_get_owners_cleanup(owners, n);
    return true;
}

void RbdLockWatch::break_lock(const CallThread& ct, const std::string& owner) {
    spdlog::warn("{}: no I/O progress for {} ms while {} holds the exclusive lock: blocklisting it and breaking "
                 "the lock",
                 ct.what, ct.stall.count(), owner);
    if (int r = rbd_lock_break(ct.image, RBD_LOCK_MODE_EXCLUSIVE, owner.c_str()); r < 0)
        spdlog::warn("{}: breaking the lock of {} failed: {}", ct.what, owner, std::strerror(-r));
}

void RbdLockWatch::exchange_calls(bool lookup, bool stalled) {
    std::lock_guard lk(calls_->mu);
    Calls& calls = calls_->calls;
    if (calls.answered) owner_ = std::move(calls.owner), calls.answered = false;
    const std::int64_t busy_ms = calls.busy ? RbdIoProgress::now_ms() - calls.busy_since_ms : 0;
    if (busy_ms >= kCallTimeout.count() && !calls.warned) {
        calls.warned = true;  // keep going on what was seen last; the call thread stays with it
        spdlog::warn("{}: a lock lookup has not returned for {} ms (OSDs unreachable?)", what_, busy_ms);
    }
    if (calls.busy) return;
    if (lookup) calls.lookup = true;
    if (stalled && !owner_.empty() && owner_ != broken_) calls.break_owner = broken_ = owner_;
    if (calls.lookup || !calls.break_owner.empty()) calls_->cv.notify_all();
}

void RbdLockWatch::poll(int round, int mine) {
    if (io_.fenced.load(std::memory_order_acquire)) return fenced();
    const std::int64_t stalled_ms =
        io_.in_flight.load() > 0 ? RbdIoProgress::now_ms() - io_.last_progress_ms.load() : 0;
    const bool stalled = !mine && stalled_ms >= stall_.count();
    if (round > 0) exchange_calls(!mine && (round % kOwnerLookupEvery == 0 || stalled), stalled);
    if (mine) owner_.clear();  // also an answer from before this client took the lock
    const auto now = !mine && !owner_.empty() ? AccessState::active_non_optimized : AccessState::active_optimized;
    if (peers_) peers_->set_state(now, mine != 0);
    set_state(now);
}

void RbdLockWatch::set_state(AccessState now) {
    if (static_cast<AccessState>(state_.exchange(static_cast<std::uint8_t>(now))) == now) return;
    std::lock_guard lk(cb_mu_);
    if (changed_) changed_();
}

// Blocklisted: this watch's connection is dead and it asks the cluster nothing more; the backend
// reports the ports transitioning and replaces the connection, this watch with it
// (rbd_recover.cpp). Until then its registry line goes stale, so the other gateways report this
// one unavailable.
void RbdLockWatch::fenced() {
    if (peers_) peers_->set_state(AccessState::unavailable, false);
    set_state(AccessState::unavailable);
}

}  // namespace vstor::backends
