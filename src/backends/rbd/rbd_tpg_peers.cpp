#include "backends/rbd/rbd_tpg_peers.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "backends/rbd/rbd_lock_watch.hpp"

namespace vstor::backends {

namespace {
constexpr auto kTick = std::chrono::milliseconds(100);
constexpr std::uint64_t kMaxEntries = 256;
}  // namespace

// One asynchronous operation and what it needs until it completes.
struct RbdTpgPeers::Pending {
    rados_completion_t c = nullptr;
    rados_write_op_t wop = nullptr;
    rados_read_op_t rop = nullptr;
    rados_omap_iter_t iter = nullptr;
    unsigned char more = 0;
    int rval = 0;
    std::string key, value;  // what a write sets or a removal compares (the op keeps pointers to them)
    std::uint16_t group = 0;
    std::uint64_t seq = 0;

    Pending() = default;
    Pending(const Pending&) = delete;
    Pending& operator=(const Pending&) = delete;
    ~Pending() {
        if (iter) rados_omap_get_end(iter);
        if (rop) rados_release_read_op(rop);
        if (wop) rados_release_write_op(wop);
        if (c) rados_aio_release(c);
    }
    bool done() const { return !c || rados_aio_is_complete(c); }
    // Waits at most `ms` for the operation; false when it is still running.
    bool wait(int ms) const {
        for (int i = 0; !done() && i < ms / 10; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return done();
    }
};

RbdTpgPeers::RbdTpgPeers(rados_t cluster, rados_ioctx_t pool_io, std::string object, std::string what,
                         Memory carried, RbdIoProgress* progress, std::chrono::milliseconds forget_after)
    : progress_(progress),
      object_(std::move(object)),
      what_(std::move(what)),
      seen_(std::move(carried)),
      forget_after_(forget_after) {
    if (int r = rados_ioctx_create2(cluster, rados_ioctx_get_id(pool_io), &io_); r < 0) {
        spdlog::warn("{}: no port-group registry ({}): other gateways' groups are not reported", what_,
                     std::strerror(-r));
        io_ = nullptr;
        return;
    }
    thread_ = std::thread([this] { run(); });
}

RbdTpgPeers::~RbdTpgPeers() {
    if (!io_) return;
    {
        std::lock_guard lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
    // An operation the cluster does not finish in time is left to it (its memory too): the I/O
    // context keeps what it needs, and a gateway must be able to stop without its cluster.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);  // for all three
    for (Pending** p : {&write_, &read_, &forget_}) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
        if (*p && !(*p)->wait(static_cast<int>(std::max<std::int64_t>(left.count(), 0)))) *p = nullptr;
    }
    delete write_;
    delete read_;
    delete forget_;
    remove_own_entry();
    rados_ioctx_destroy(io_);
}

void RbdTpgPeers::set_ports(std::uint16_t group, std::vector<std::uint16_t> ports) {
    std::lock_guard lk(mu_);
    if (own_.group == group && own_.ports == ports) return;
    own_.group = group;
    own_.ports = std::move(ports);
    seen_.erase(group);
    own_dirty_ = true;
    cv_.notify_all();
}

void RbdTpgPeers::set_state(AccessState state, bool holds_lock) {
    std::lock_guard lk(mu_);
    holds_lock_ = holds_lock;
    if (own_.state == state) return;
    own_.state = state;
    own_dirty_ = true;
    cv_.notify_all();
}

std::vector<TargetPortGroup> RbdTpgPeers::peers() const {
    std::lock_guard lk(mu_);
    const std::int64_t now = RbdIoProgress::now_ms();
    std::vector<TargetPortGroup> out;
    for (const auto& [group, seen] : seen_) {
        AccessState st = seen.entry.state;
        if (now - seen.moved_ms >= kStale.count()) st = AccessState::unavailable;
        else if (holds_lock_ && st == AccessState::active_optimized) st = AccessState::active_non_optimized;
        out.push_back(TargetPortGroup{group, st, seen.entry.ports});
    }
    return out;
}

bool RbdTpgPeers::has_read() const {
    std::lock_guard lk(mu_);
    return read_once_;
}

RbdTpgPeers::Memory RbdTpgPeers::memory() const {
    std::lock_guard lk(mu_);
    return seen_;
}

void RbdTpgPeers::run() {
    std::unique_lock lk(mu_);
    while (!stop_) {
        lk.unlock();
        tick();
        lk.lock();
        cv_.wait_for(lk, kTick, [this] { return stop_ || own_dirty_; });
    }
}

void RbdTpgPeers::tick() {
    if (write_ && write_->done()) {
        const int r = rados_aio_get_return_value(write_->c);
        if (r < 0) spdlog::debug("{}: writing the port-group entry failed: {}", what_, std::strerror(-r));
        refused(r);
        delete std::exchange(write_, nullptr);
    }
    if (read_ && read_->done()) {
        refused(rados_aio_get_return_value(read_->c));
        finish_read(*read_);
        delete std::exchange(read_, nullptr);
    }
    if (forget_ && forget_->done()) finish_forget();
    if (!forget_) start_forget();
    const std::int64_t now = RbdIoProgress::now_ms();
    bool write = false, read = false;
    {
        std::lock_guard lk(mu_);
        write = !write_ && own_.group && (own_dirty_ || now - last_write_ms_ >= kBeat.count());
        read = !read_ && now - last_read_ms_ >= kRead.count();
        if (write) last_write_ms_ = now;
        if (read) last_read_ms_ = now;
    }
    if (write) start_write();
    if (read) start_read();
}

void RbdTpgPeers::start_write() {
    auto p = std::make_unique<Pending>();
    {
        std::lock_guard lk(mu_);
        ++own_.seq;
        own_dirty_ = false;
        p->key = tpg_entry_key(own_.group);
        p->value = encode_tpg_entry(own_);
    }
    const char* keys[] = {p->key.c_str()};
    const char* vals[] = {p->value.data()};
    const std::size_t key_lens[] = {p->key.size()}, val_lens[] = {p->value.size()};
    p->wop = rados_create_write_op();
    rados_write_op_omap_set2(p->wop, keys, vals, key_lens, val_lens, 1);
    if (rados_aio_create_completion2(nullptr, nullptr, &p->c) < 0) return;
    if (int r = rados_aio_write_op_operate(p->wop, io_, p->c, object_.c_str(), nullptr, 0); r < 0) return refused(r);
    write_ = p.release();
}

void RbdTpgPeers::start_read() {
    auto p = std::make_unique<Pending>();
    p->rop = rados_create_read_op();
    rados_read_op_omap_get_vals2(p->rop, "", "tpg.", kMaxEntries, &p->iter, &p->more, &p->rval);
    if (rados_aio_create_completion2(nullptr, nullptr, &p->c) < 0) return;
    if (int r = rados_aio_read_op_operate(p->rop, io_, p->c, object_.c_str(), 0); r < 0) return refused(r);
    read_ = p.release();
}

void RbdTpgPeers::finish_read(Pending& p) {
    const int r = rados_aio_get_return_value(p.c);
    if (r < 0 && r != -ENOENT) return;  // unread: the entries age towards stale
    std::map<std::uint16_t, std::pair<TpgEntry, std::string>> now_there;  // and the value as read
    if (r >= 0 && p.rval >= 0 && p.iter) {
        char *key = nullptr, *val = nullptr;
        std::size_t key_len = 0, val_len = 0;
        while (rados_omap_get_next2(p.iter, &key, &val, &key_len, &val_len) == 0 && key) {
            std::string error;
            auto e = parse_tpg_entry(std::string_view(val, val_len), error);
            if (!e || tpg_entry_key(e->group) != std::string_view(key, key_len)) {
                spdlog::debug("{}: ignoring port-group entry {}: {}", what_, std::string_view(key, key_len),
                              error.empty() ? "key and group differ" : error);
                continue;
            }
            now_there[e->group] = {std::move(*e), std::string(val, val_len)};
        }
    }
    const std::int64_t now = RbdIoProgress::now_ms();
    std::lock_guard lk(mu_);
    std::map<std::uint16_t, Seen> next;
    to_forget_.clear();
    for (auto it = forgotten_.begin(); it != forgotten_.end();) {
        const auto there = now_there.find(it->first);
        it = there == now_there.end() || there->second.first.seq != it->second ? forgotten_.erase(it) : std::next(it);
    }
    for (auto& [group, e] : now_there) {
        if (group == own_.group || forgotten_.count(group)) continue;
        const auto old = seen_.find(group);
        const bool moved = old == seen_.end() || old->second.entry.seq != e.first.seq;
        const std::int64_t moved_ms = moved ? now : old->second.moved_ms;
        if (holds_lock_ && group != forgetting_ && now - moved_ms >= forget_after_.count())
            to_forget_.push_back(Forget{tpg_entry_key(group), e.second, group, e.first.seq, now - moved_ms});
        next[group] = Seen{std::move(e.first), moved_ms};
    }
    seen_ = std::move(next);
    read_once_ = true;
}

std::chrono::milliseconds RbdTpgPeers::forget(std::chrono::milliseconds configured) {
    const char* env = std::getenv("VSTOR_RBD_TPG_FORGET_MS");
    const long long ms = configured.count() > 0 ? configured.count() : env ? std::atoll(env) : 0;
    return ms > 0 ? std::max(std::chrono::milliseconds(ms), 2 * kStale) : kForget;
}

// Removes one stale entry of another gateway, if it still holds what was read (omap_cmp: a
// gateway that came back and rewrote it keeps it).
void RbdTpgPeers::start_forget() {
    Forget f;
    {
        std::lock_guard lk(mu_);
        if (to_forget_.empty()) return;
        f = std::move(to_forget_.back());
        to_forget_.pop_back();
    }
    auto p = std::make_unique<Pending>();
    p->key = std::move(f.key);
    p->value = std::move(f.value);
    p->group = f.group;
    p->seq = f.seq;
    const char* keys[] = {p->key.c_str()};
    const std::size_t key_lens[] = {p->key.size()};
    p->wop = rados_create_write_op();
    rados_write_op_omap_cmp(p->wop, p->key.c_str(), LIBRADOS_CMPXATTR_OP_EQ, p->value.data(), p->value.size(),
                            &p->rval);
    rados_write_op_omap_rm_keys2(p->wop, keys, key_lens, 1);
    if (rados_aio_create_completion2(nullptr, nullptr, &p->c) < 0) return;
    if (rados_aio_write_op_operate(p->wop, io_, p->c, object_.c_str(), nullptr, 0) < 0) return;
    spdlog::warn("{}: forgetting target port group {}: its gateway's registry entry has not moved for {} s", what_,
                 p->group, f.silent_ms / 1000);
    {
        std::lock_guard lk(mu_);
        forgetting_ = p->group;
    }
    forget_ = p.release();
}

void RbdTpgPeers::finish_forget() {
    std::unique_ptr<Pending> p(std::exchange(forget_, nullptr));
    const int r = rados_aio_get_return_value(p->c);
    refused(r);
    std::lock_guard lk(mu_);
    forgetting_ = 0;
    if (r < 0) {
        spdlog::info("{}: target port group {} kept: {}", what_, p->group,
                     r == -ECANCELED ? "its gateway wrote it again" : std::strerror(-r));
        return;
    }
    forgotten_[p->group] = p->seq;
    seen_.erase(p->group);  // REPORT TARGET PORT GROUPS stops listing it now
}

// EBLOCKLISTED is ESHUTDOWN in librados: this client was fenced off the cluster (another gateway
// broke its lock, or an operator blocklisted it). Marking the connection fenced starts its
// replacement, as a data call failing so does (rbd_recover.cpp).
void RbdTpgPeers::refused(int r) {
    if (r != -ESHUTDOWN || !progress_ || progress_->fenced.load(std::memory_order_acquire)) return;
    spdlog::warn("{}: the cluster refused the port-group registry: this client is blocklisted", what_);
    progress_->fence();
}

void RbdTpgPeers::remove_own_entry() {
    std::string key;
    {
        std::lock_guard lk(mu_);
        if (!own_.group) return;
        key = tpg_entry_key(own_.group);
    }
    auto* p = new Pending;
    const char* keys[] = {key.c_str()};
    const std::size_t lens[] = {key.size()};
    p->wop = rados_create_write_op();
    rados_write_op_omap_rm_keys2(p->wop, keys, lens, 1);
    if (rados_aio_create_completion2(nullptr, nullptr, &p->c) < 0 ||
        rados_aio_write_op_operate(p->wop, io_, p->c, object_.c_str(), nullptr, 0) < 0 || p->wait(2000)) {
        delete p;
        return;
    }
    spdlog::warn("{}: the cluster did not confirm removing this gateway's port-group entry", what_);
}

}  // namespace vstor::backends
