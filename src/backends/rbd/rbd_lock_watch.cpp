#include "backends/rbd/rbd_lock_watch.hpp"

#include <spdlog/spdlog.h>

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
                           std::chrono::milliseconds stall, RbdTpgPeers* peers)
    : image_(image), what_(std::move(what)), io_(io), stall_(stall), peers_(peers) {
    other_owner(owner_);  // the state is right before the LUN is added (LUN creation may block)
    poll(0);
    call_thread_ = std::thread([this] { run_calls(); });
    thread_ = std::thread([this] { run(); });
}

RbdLockWatch::~RbdLockWatch() {
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    calls_cv_.notify_all();
    thread_.join();
    call_thread_.join();  // after a hanging lookup returns: rbd_close would wait for it anyway
}

void RbdLockWatch::watch(std::function<void()> changed) {
    std::lock_guard lk(cb_mu_);  // waits for a call in flight
    changed_ = std::move(changed);
}

void RbdLockWatch::run() {
    for (int round = 1;; ++round) {
        {
            std::unique_lock lk(mu_);
            if (cv_.wait_for(lk, kPollEvery, [this] { return stop_; })) return;
        }
        poll(round);
    }
}

void RbdLockWatch::run_calls() {
    std::unique_lock lk(mu_);
    for (;;) {
        calls_cv_.wait(lk, [this] { return stop_ || calls_.lookup || !calls_.break_owner.empty(); });
        if (stop_) return;
        const std::string victim = std::exchange(calls_.break_owner, {});
        const bool lookup = std::exchange(calls_.lookup, false);
        calls_.busy = true;
        calls_.busy_since_ms = RbdIoProgress::now_ms();
        lk.unlock();
        if (!victim.empty()) break_lock(victim);
        std::string owner;
        const bool ok = lookup && other_owner(owner);
        lk.lock();
        calls_.busy = false;
        if (calls_.warned) spdlog::info("{}: the lock lookup returned", what_);
        calls_.warned = false;
        if (ok) calls_.answered = true, calls_.owner = std::move(owner);
    }
}

bool RbdLockWatch::other_owner(std::string& owner) {
    rbd_lock_mode_t mode;
    char* owners[4];
    size_t n = 4;
    const int r = rbd_lock_get_owners(image_, &mode, owners, &n);
    if (r == -ENOENT) {  // nobody holds it
        owner.clear();
        return true;
    }
    if (r < 0) return false;
    owner = n ? owners[0] : "";
    rbd_lock_get_owners_cleanup(owners, n);
    return true;
}

void RbdLockWatch::break_lock(const std::string& owner) {
    spdlog::warn("{}: no I/O progress for {} ms while {} holds the exclusive lock: blocklisting it and breaking "
                 "the lock",
                 what_, stall_.count(), owner);
    if (int r = rbd_lock_break(image_, RBD_LOCK_MODE_EXCLUSIVE, owner.c_str()); r < 0)
        spdlog::warn("{}: breaking the lock of {} failed: {}", what_, owner, std::strerror(-r));
}

void RbdLockWatch::exchange_calls(bool lookup, bool stalled) {
    std::lock_guard lk(mu_);
    if (calls_.answered) owner_ = std::move(calls_.owner), calls_.answered = false;
    const std::int64_t busy_ms = calls_.busy ? RbdIoProgress::now_ms() - calls_.busy_since_ms : 0;
    if (busy_ms >= kCallTimeout.count() && !calls_.warned) {
        calls_.warned = true;  // keep going on what was seen last; the call thread stays with it
        spdlog::warn("{}: a lock lookup has not returned for {} ms (OSDs unreachable?)", what_, busy_ms);
    }
    if (calls_.busy) return;
    if (lookup) calls_.lookup = true;
    if (stalled && !owner_.empty() && owner_ != broken_) calls_.break_owner = broken_ = owner_;
    if (calls_.lookup || !calls_.break_owner.empty()) calls_cv_.notify_one();
}

void RbdLockWatch::poll(int round) {
    if (io_.fenced.load(std::memory_order_acquire)) return fenced();
    int mine = 0;
    if (rbd_is_exclusive_lock_owner(image_, &mine) < 0) mine = 0;
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
