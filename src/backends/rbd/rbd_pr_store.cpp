#include "backends/rbd/rbd_pr_store.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>

namespace vstor::backends {

namespace {
std::string why(const char* what, int r) { return std::string(what) + ": " + std::strerror(-r); }

// Runs one operation to its end through an asynchronous completion, whose version is this
// operation's own (rados_get_last_version is per I/O context, and other threads use it too).
template <typename Start>
int run_op(Start start, std::uint64_t* version) {
    rados_completion_t c = nullptr;
    if (int r = rados_aio_create_completion2(nullptr, nullptr, &c); r < 0) return r;
    int r = start(c);
    if (r >= 0) {
        rados_aio_wait_for_complete(c);
        r = rados_aio_get_return_value(c);
        if (version) *version = rados_aio_get_version(c);
    }
    rados_aio_release(c);
    return r;
}
}  // namespace

std::shared_ptr<RbdPrStore> RbdPrStore::open(rados_t cluster, rados_ioctx_t pool_io, std::string object,
                                             std::string& error, std::shared_ptr<const void> keep) {
    rados_ioctx_t ctx = nullptr;
    if (int r = rados_ioctx_create2(cluster, rados_ioctx_get_id(pool_io), &ctx); r < 0)
        return error = why("cannot open the pool for the reservation state", r), nullptr;
    auto io = std::make_shared<Io>(ctx, std::move(keep));
    std::shared_ptr<RbdPrStore> s(new RbdPrStore(io, std::move(object)));
    // A watch needs the object: create it empty unless it exists (the empty state).
    rados_write_op_t op = rados_create_write_op();
    rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, nullptr);
    int r = rados_write_op_operate2(op, ctx, s->object_.c_str(), nullptr, 0);
    rados_release_write_op(op);
    if (r < 0) return error = why(("cannot create " + s->object_).c_str(), r), nullptr;
    std::lock_guard wl(s->watch_mu_);
    if ((r = s->start_watch(io)) < 0) return error = why(("cannot watch " + s->object_).c_str(), r), nullptr;
    return s;
}

RbdPrStore::RbdPrStore(std::shared_ptr<Io> io, std::string object)
    : io_(std::move(io)), object_(std::move(object)), relay_(new Relay) {
    relay_->store = this;
    thread_ = std::thread([this] { run(); });
}

RbdPrStore::~RbdPrStore() { close(); }

std::shared_ptr<RbdPrStore::Io> RbdPrStore::io() const {
    std::lock_guard lk(io_mu_);
    return io_;
}

int RbdPrStore::start_watch(const std::shared_ptr<Io>& io) {
    std::uint64_t cookie = 0;
    const int r = rados_watch3(io->ctx, object_.c_str(), &cookie, on_notify, on_watch_error, kWatchTimeoutS, relay_);
    if (r < 0) return r;
    watch_cookie_ = cookie;
    watch_io_ = io;
    relay_->cookie.store(cookie);
    return r;
}

// rados_unwatch2 asks the OSD and waits as long as it takes; a fenced client's fails at once, but
// a cluster that does not answer would hold a rebind or a shutdown forever: at most
// kUnwatchWaitMs, then the watch is left to end with its connection (its callbacks find the relay).
void RbdPrStore::end_watch() {
    if (!watch_io_) return;
    relay_->cookie.store(0);
    rados_completion_t c = nullptr;
    bool ended = false;
    if (rados_aio_create_completion2(nullptr, nullptr, &c) == 0) {
        if (rados_aio_unwatch(watch_io_->ctx, watch_cookie_, c) < 0) {
            ended = true;  // refused at once: nothing is pending
        } else {
            for (int i = 0; i < kUnwatchWaitMs / 10 && !rados_aio_is_complete(c); ++i)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            ended = rados_aio_is_complete(c);
        }
        if (ended) rados_aio_release(c);  // else the cluster may still complete it: left to it
    }
    if (ended) rados_watch_flush(rados_ioctx_get_cluster(watch_io_->ctx));  // no callback still on its way
    else spdlog::warn("{}: the cluster did not confirm ending the watch within {} ms: left to it", object_, kUnwatchWaitMs);
    unwatched_all_ = unwatched_all_ && ended;
    watch_io_.reset();
}

void RbdPrStore::close() {
    {
        std::lock_guard lk(mu_);
        if (closed_) return;
        closed_ = stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    {
        std::lock_guard rl(relay_->mu);  // waits for a callback in flight; none reaches the store after
        relay_->store = nullptr;
    }
    std::lock_guard wl(watch_mu_);
    end_watch();
    if (unwatched_all_) delete relay_;  // else a watch may still call it: never freed
    std::lock_guard lk(io_mu_);
    io_.reset();  // the context closes once no operation uses it
}

ReservationStore::Result RbdPrStore::load(Snapshot& out, std::string& error) {
    if (closed()) return error = object_ + " is closed", Result::error;
    const auto io = this->io();
    if (!io) return error = object_ + " is closed", Result::error;
    for (std::size_t size = 64 << 10;; size = kMaxBytes) {
        out.state.assign(size, 0);
        std::size_t got = 0;
        std::uint64_t object_size = 0;
        int read_rv = 0, stat_rv = 0;
        rados_read_op_t op = rados_create_read_op();
        rados_read_op_stat(op, &object_size, nullptr, &stat_rv);
        rados_read_op_read(op, 0, size, reinterpret_cast<char*>(out.state.data()), &got, &read_rv);
        const int r = run_op(
            [&](rados_completion_t c) { return rados_aio_read_op_operate(op, io->ctx, c, object_.c_str(), 0); },
            &out.version);
        rados_release_read_op(op);
        if (r == -ENOENT) {  // removed behind our back: the empty state, created again on write
            out.state.clear();
            out.version = 0;
            return Result::ok;
        }
        if (r < 0 || read_rv < 0) return error = why(("cannot read " + object_).c_str(), r < 0 ? r : read_rv), Result::error;
        if (object_size > kMaxBytes) return error = object_ + " is too large", Result::error;
        if (object_size <= size) {
            out.state.resize(got);
            return Result::ok;
        }
    }
}

ReservationStore::Result RbdPrStore::compare_and_set(std::uint64_t expected_version,
                                                     const std::vector<std::uint8_t>& state, std::string& error) {
    if (closed()) return error = object_ + " is closed", Result::error;
    if (state.size() > kMaxBytes) return error = "the reservation state is too large", Result::error;
    const auto io = this->io();
    if (!io) return error = object_ + " is closed", Result::error;
    rados_write_op_t op = rados_create_write_op();
    if (expected_version == 0)
        rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, nullptr);  // it did not exist when read
    else
        rados_write_op_assert_version(op, expected_version);
    rados_write_op_write_full(op, reinterpret_cast<const char*>(state.data()), state.size());
    const int r = run_op(
        [&](rados_completion_t c) { return rados_aio_write_op_operate(op, io->ctx, c, object_.c_str(), nullptr, 0); },
        nullptr);
    rados_release_write_op(op);
    // ERANGE/EOVERFLOW: the version moved; EEXIST/ENOENT: created or removed since it was read.
    if (r == -ERANGE || r == -EOVERFLOW || r == -EEXIST || r == -ENOENT) return Result::conflict;
    if (r < 0) return error = why(("cannot write " + object_).c_str(), r), Result::error;
    // Tell the other gateways, and wait until they have read it (or kNotifyTimeoutMs passed: a
    // gateway that died stays a watcher until its watch times out).
    char* reply = nullptr;
    std::size_t reply_len = 0;
    const int n = rados_notify2(io->ctx, object_.c_str(), nullptr, 0, kNotifyTimeoutMs, &reply, &reply_len);
    if (reply) rados_buffer_free(reply);
    if (n < 0) spdlog::warn("{}: not every gateway acknowledged the change: {}", object_, std::strerror(-n));
    return Result::ok;
}

bool RbdPrStore::closed() {
    std::lock_guard lk(mu_);
    return closed_;
}

void RbdPrStore::watch(std::function<void()> changed) {
    std::lock_guard lk(cb_mu_);
    changed_ = std::move(changed);
}

void RbdPrStore::post(Event e) {
    {
        std::lock_guard lk(mu_);
        if (stop_) return;
        events_.push_back(e);
    }
    cv_.notify_one();
}

// A notification for another watch than the current one (the connection before a rebind) is
// not acknowledged: the notifier waits for the current watch's acknowledgement anyway.
void RbdPrStore::on_notify(void* arg, std::uint64_t notify_id, std::uint64_t cookie, std::uint64_t, void*,
                           std::size_t) {
    auto* relay = static_cast<Relay*>(arg);
    std::lock_guard lk(relay->mu);
    if (relay->store && cookie == relay->cookie.load()) relay->store->post(Event{false, false, notify_id, cookie});
}

void RbdPrStore::on_watch_error(void* arg, std::uint64_t cookie, int err) {
    auto* relay = static_cast<Relay*>(arg);
    std::lock_guard lk(relay->mu);
    if (!relay->store || cookie != relay->cookie.load()) return;
    spdlog::warn("{}: watch lost ({}), watching again", relay->store->object_, std::strerror(-err));
    relay->store->post(Event{true, false, 0, 0});
}

bool RbdPrStore::rebind(rados_t cluster, std::string& error, std::shared_ptr<const void> keep) {
    const auto old = io();
    if (!old) return error = object_ + " is closed", false;
    rados_ioctx_t ctx = nullptr;
    if (int r = rados_ioctx_create2(cluster, rados_ioctx_get_id(old->ctx), &ctx); r < 0)
        return error = why("cannot open the pool for the reservation state", r), false;
    auto fresh = std::make_shared<Io>(ctx, std::move(keep));
    {
        std::lock_guard lk(io_mu_);  // operations from now on use the new context
        io_ = fresh;
    }
    std::lock_guard wl(watch_mu_);
    end_watch();  // fails at once on a fenced client; bounded on one that does not answer
    {
        std::lock_guard lk(mu_);
        ++io_gen_;
    }
    if (int r = start_watch(fresh); r < 0) {  // the new connection is in use from now on regardless
        spdlog::warn("{}: cannot watch it ({}), trying again", object_, std::strerror(-r));
        post(Event{true, false, 0, 0});
    }
    post(Event{false, true, 0, 0});  // changes made while this gateway was fenced
    return true;
}

// Once, then once a second until it works, the store stops, or rebind() moved to a new connection.
void RbdPrStore::rewatch() {
    std::uint64_t gen = 0;
    {
        std::lock_guard lk(mu_);
        gen = io_gen_;
    }
    for (;;) {
        {
            const auto io = this->io();
            if (!io) return;  // closed
            std::lock_guard wl(watch_mu_);
            end_watch();
            if (start_watch(io) >= 0) return;
        }
        std::unique_lock lk(mu_);
        if (cv_.wait_for(lk, std::chrono::seconds(1), [&] { return stop_ || io_gen_ != gen; })) return;
    }
}

void RbdPrStore::run() {
    std::unique_lock lk(mu_);
    for (;;) {
        cv_.wait(lk, [&] { return stop_ || !events_.empty(); });
        if (stop_) return;
        const Event e = events_.front();
        events_.pop_front();
        lk.unlock();  // librados calls below: its threads call post(), which takes mu_
        if (e.rewatch) rewatch();
        {
            std::lock_guard cb(cb_mu_);
            if (changed_) changed_();  // the engine re-reads the state
        }
        if (!e.rewatch && !e.reread)
            if (const auto io = this->io()) rados_notify_ack(io->ctx, object_.c_str(), e.notify_id, e.cookie, nullptr, 0);
        lk.lock();
    }
}

}  // namespace vstor::backends
