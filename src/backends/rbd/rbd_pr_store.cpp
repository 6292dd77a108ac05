#include "backends/rbd/rbd_pr_store.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

#include "backends/rbd/rbd_async_op.hpp"

#include <spdlog/spdlog.h>

namespace vstor::backends {

namespace {
std::string why(const char* what, int r) { return std::string(what) + ": " + std::strerror(-r); }

}  // namespace

std::shared_ptr<RbdPrStore> RbdPrStore::open(rados_t cluster, rados_ioctx_t pool_io, std::string object,
                                             std::string& error, std::shared_ptr<const void> keep,
                                             std::function<void()> fenced) {
    rados_ioctx_t ctx = nullptr;
    if (int r = rados_ioctx_create2(cluster, rados_ioctx_get_id(pool_io), &ctx); r < 0)
        return error = why("cannot open the pool for the reservation state", r), nullptr;
    auto io = std::make_shared<Io>(ctx, std::move(keep), std::move(fenced));
    std::shared_ptr<RbdPrStore> s(new RbdPrStore(io, std::move(object)));
    // A watch needs the object: create it empty unless it exists (the empty state).
    rados_write_op_t op = rados_create_write_op();
    rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, nullptr);
    int r = rados_write_op_operate2(op, ctx, s->object_.c_str(), nullptr, 0);
    rados_release_write_op(op);
    if (r < 0) return error = why(("cannot create " + s->object_).c_str(), r), nullptr;
    std::lock_guard wl(s->watch_mu_);
    if ((r = s->start_watch(io)) < 0) return error = why(("cannot watch " + s->object_).c_str(), r), nullptr;
    // The thread holds the store: close() may leave it behind (kStopWait), and then it must
    // still find everything it uses.
    s->thread_ = util::BoundedThread([s] { s->run(); });
    return s;
}

RbdPrStore::RbdPrStore(std::shared_ptr<Io> io, std::string object)
    : io_(std::move(io)), object_(std::move(object)), relay_(new Relay) {
    relay_->store = this;
}

RbdPrStore::~RbdPrStore() { close(); }

std::shared_ptr<RbdPrStore::Io> RbdPrStore::io() const {
    std::lock_guard lk(io_mu_);
    return io_;
}

int RbdPrStore::refused(const std::shared_ptr<Io>& io, int r) const {
    if (r != -ESHUTDOWN || !io || !io->fenced || io->told.exchange(true)) return r;
    spdlog::warn("{}: the cluster refused a call: this client is blocklisted", object_);
    io->fenced();
    return r;
}

// Asynchronous, so that close() can stop waiting for a cluster that does not answer; a watch
// left behind that is made after all is ended by the thread that frees it.
int RbdPrStore::start_watch(const std::shared_ptr<Io>& io) {
    if (closing_.load()) return -ECANCELED;  // under watch_mu_: close() may free relay_ after it
    auto op = std::make_shared<RbdAsyncOp>(io);
    if (!op->ok()) return -ENOMEM;
    std::uint64_t cookie = 0;
    int r = rados_aio_watch2(io->ctx, object_.c_str(), op->completion(), &cookie, on_notify, on_watch_error,
                             kWatchTimeoutS, relay_);
    if (r < 0) return refused(io, r);
    op->started();
    op->watch_cookie = cookie, op->watch_ctx = io->ctx;
    if ((r = op->wait(closing_)) == -ECANCELED) {
        unwatched_all_ = false;  // its callbacks may come: relay_ is never freed
        RbdAsyncOp::leave(std::move(op), object_ + ": watching");
    }
    if (r < 0) return refused(io, r);
    op->watch_cookie = 0;  // the store's now
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
    closing_.store(true);
    abandon_.store(true);
    cv_.notify_all();
    if (!thread_.join_for(kStopWait))
        spdlog::warn("{}: the reservation store's thread has not returned after {} ms: it is left to finish by "
                     "itself",
                     object_, kStopWait.count());
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
        auto op = std::make_shared<RbdAsyncOp>(io);  // what librados writes into lives with it
        op->buf.assign(size, 0);
        op->rop = rados_create_read_op();
        rados_read_op_stat(op->rop, &op->object_size, nullptr, &op->stat_rv);
        rados_read_op_read(op->rop, 0, size, reinterpret_cast<char*>(op->buf.data()), &op->got, &op->read_rv);
        const int r = finish(op, op->ok() ? rados_aio_read_op_operate(op->rop, io->ctx, op->completion(),
                                                                      object_.c_str(), 0)
                                          : -ENOMEM);
        refused(io, r);
        if (r == -ENOENT) {  // removed behind our back: the empty state, created again on write
            out.state.clear();
            out.version = 0;
            return Result::ok;
        }
        const int fail = r < 0 ? r : op->read_rv;
        if (fail < 0) return error = why(("cannot read " + object_).c_str(), fail), Result::error;
        if (op->object_size > kMaxBytes) return error = object_ + " is too large", Result::error;
        if (op->object_size <= size) {
            out.version = op->version();
            out.state.assign(op->buf.begin(), op->buf.begin() + static_cast<std::ptrdiff_t>(op->got));
            return Result::ok;
        }
    }
}

// Starts nothing itself: `started` is the start call's result. Waits for the op unless the store
// gives up on it (closing, or the engine stopped listening): then it is left behind.
int RbdPrStore::finish(std::shared_ptr<RbdAsyncOp> op, int started) {
    if (started < 0) return started;
    op->started();
    const int r = op->wait(abandon_);
    if (r == -ECANCELED) RbdAsyncOp::leave(std::move(op), object_);
    return r;
}

ReservationStore::Result RbdPrStore::compare_and_set(std::uint64_t expected_version,
                                                     const std::vector<std::uint8_t>& state, std::string& error) {
    if (closed()) return error = object_ + " is closed", Result::error;
    if (state.size() > kMaxBytes) return error = "the reservation state is too large", Result::error;
    const auto io = this->io();
    if (!io) return error = object_ + " is closed", Result::error;
    auto op = std::make_shared<RbdAsyncOp>(io);
    op->wop = rados_create_write_op();
    if (expected_version == 0)
        rados_write_op_create(op->wop, LIBRADOS_CREATE_EXCLUSIVE, nullptr);  // it did not exist when read
    else
        rados_write_op_assert_version(op->wop, expected_version);
    rados_write_op_write_full(op->wop, reinterpret_cast<const char*>(state.data()), state.size());  // copied
    const int r = finish(op, op->ok() ? rados_aio_write_op_operate(op->wop, io->ctx, op->completion(),
                                                                   object_.c_str(), nullptr, 0)
                                      : -ENOMEM);
    refused(io, r);
    // ERANGE/EOVERFLOW: the version moved; EEXIST/ENOENT: created or removed since it was read.
    if (r == -ERANGE || r == -EOVERFLOW || r == -EEXIST || r == -ENOENT) return Result::conflict;
    if (r < 0) return error = why(("cannot write " + object_).c_str(), r), Result::error;
    // Tell the other gateways, and wait until they have read it (or kNotifyTimeoutMs passed: a
    // gateway that died stays a watcher until its watch times out).
    auto note = std::make_shared<RbdAsyncOp>(io);
    const int n = finish(note, note->ok() ? rados_aio_notify(io->ctx, object_.c_str(), note->completion(), nullptr,
                                                             0, kNotifyTimeoutMs, &note->reply, &note->reply_len)
                                          : -ENOMEM);
    if (refused(io, n) < 0)
        spdlog::warn("{}: not every gateway acknowledged the change: {}", object_, std::strerror(-n));
    return Result::ok;
}

bool RbdPrStore::closed() {
    std::lock_guard lk(mu_);
    return closed_;
}

// Removing the callback gives up on a read in flight first: the engine's refresh then returns at
// once instead of holding a LUN removal until the cluster answers.
void RbdPrStore::watch(std::function<void()> changed) {
    if (!changed) abandon_.store(true);
    else if (!closing_.load()) abandon_.store(false);
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
    if (relay->store && cookie == relay->cookie.load()) relay->store->post(Event{false, notify_id, cookie});
}

void RbdPrStore::on_watch_error(void* arg, std::uint64_t cookie, int err) {
    auto* relay = static_cast<Relay*>(arg);
    std::lock_guard lk(relay->mu);
    if (!relay->store || cookie != relay->cookie.load()) return;
    spdlog::warn("{}: watch lost ({}), watching again", relay->store->object_, std::strerror(-err));
    relay->store->post(Event{true, 0, 0});
}

bool RbdPrStore::rebind(rados_t cluster, std::string& error, std::shared_ptr<const void> keep,
                        std::function<void()> fenced) {
    const auto old = io();
    if (!old) return error = object_ + " is closed", false;
    rados_ioctx_t ctx = nullptr;
    if (int r = rados_ioctx_create2(cluster, rados_ioctx_get_id(old->ctx), &ctx); r < 0)
        return error = why("cannot open the pool for the reservation state", r), false;
    auto fresh = std::make_shared<Io>(ctx, std::move(keep), std::move(fenced));
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
    // The store's thread watches on the new connection (a recovery must not wait for it), then
    // the engine re-reads the state: changes made while this gateway was fenced.
    post(Event{true, 0, 0});  // changes made while this gateway was fenced
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
        if (!e.rewatch)
            if (const auto io = this->io()) rados_notify_ack(io->ctx, object_.c_str(), e.notify_id, e.cookie, nullptr, 0);
        lk.lock();
    }
}

}  // namespace vstor::backends
