#include "backends/rbd/rbd_backend.hpp"

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <utility>

#include "backends/rbd/rbd_handles.hpp"
#include "backends/rbd/rbd_lock_watch.hpp"
#include "backends/rbd/rbd_pr_store.hpp"
#include "backends/rbd/rbd_size_watch.hpp"
#include "backends/rbd/rbd_tpg_peers.hpp"
#include "util/bounded_thread.hpp"

namespace vstor::backends {

IoStatus rbd_status(int err) {
    switch (err) {
    case 0: return IoStatus::ok;
    case -EROFS: return IoStatus::read_only;  // e.g. another client holds the exclusive lock
    case -ENOSPC:
    case -EDQUOT: return IoStatus::no_space;
    // Ceph's EBLOCKLISTED: this client was fenced off the cluster, and the backend reconnects
    // as a new one (rbd_recover.cpp): the path is in transition, try again.
    case -ESHUTDOWN: return IoStatus::transitioning;
    case -ENOTCONN: return IoStatus::not_ready;
    case -ECANCELED: return IoStatus::aborted;
    case -EOPNOTSUPP: return IoStatus::not_supported;
    default: return IoStatus::medium_error;
    }
}

namespace {

using Handles = RbdBackend::Handles;

// One rbd_aio_* call in flight: what to tell, how many bytes a read must return (-1: a write-like
// call that returns 0), where the request ends in the image (0: no range, a flush), whether to
// flush before telling (a FUA write on a cached image), and the connection it went to (kept open
// until it completes): a write-like call counts as in flight there (`counts`, the lock watch's
// stall clock), and any call that finds this client blocklisted marks that connection fenced,
// which starts the recovery (rbd_recover.cpp).
struct AioOp {
    IoCallback done;
    std::int64_t expect = -1;
    std::uint64_t end = 0;
    bool flush_after = false;
    std::shared_ptr<Handles> h;
    bool counts = false;
};

void start_aio(std::unique_ptr<AioOp> op, int (*start)(rbd_completion_t, void*), void* arg);

int start_flush(rbd_completion_t c, void* img) { return rbd_aio_flush(static_cast<rbd_image_t>(img), c); }

// A request past the end of the image as librbd knew it: librbd refused it or clipped it.
constexpr std::string_view kPastEnd = "past the end of the image, which was shrunk meanwhile";

// Tells the op's outcome, once its end was checked against the image's size where it had to be.
void finish(std::unique_ptr<AioOp> op, IoStatus st) {
    if (st == IoStatus::ok && op->counts && !op->flush_after) op->h->cache.acked();
    if (st == IoStatus::ok && op->flush_after) {
        // FUA on a cached image: durable only once flushed. rbd_aio_flush queues and returns.
        rbd_image_t image = op->h->image;
        op->end = 0, op->flush_after = false, op->counts = false;
        return start_aio(std::move(op), start_flush, image);
    }
    if (st == IoStatus::out_of_range) return op->done(st, kPastEnd);
    op->done(st);
}

// What librbd's answer means once the request's end is known to be inside the image or not.
IoStatus past_end(RbdSizeGate::Verdict v, IoStatus st) {
    if (v == RbdSizeGate::Verdict::outside) return IoStatus::out_of_range;
    // The size cannot be read (the connection is being replaced, or its cluster does not
    // answer): a success cannot be vouched for, and the initiator retries the path.
    if (v == RbdSizeGate::Verdict::unknown && st == IoStatus::ok) return IoStatus::transitioning;
    return st;
}

void on_complete(rbd_completion_t c, void* arg) {
    std::unique_ptr<AioOp> op(static_cast<AioOp*>(arg));
    const auto r = rbd_aio_get_return_value(c);
    rbd_aio_release(c);
    if (op->counts) op->h->progress.finished();
    if (r == -ESHUTDOWN) op->h->progress.fence();
    IoStatus st = IoStatus::ok;
    if (r < 0) st = rbd_status(static_cast<int>(r));
    else if (op->expect >= 0 && r != op->expect) st = IoStatus::medium_error;  // short read
    // librbd clips a request that crosses the image's end and refuses one that starts past it
    // (rbd_size_gate.hpp): a success, a short read or -EINVAL stands once the end is inside.
    const bool check = r == -EINVAL || (op->expect >= 0 ? r >= 0 && r != op->expect : r == 0);
    if (!op->end || !check) return finish(std::move(op), st);
    RbdSizeGate& gate = op->h->size_gate;
    const std::uint64_t end = op->end;
    if (auto v = gate.now(end)) return finish(std::move(op), past_end(*v, st));
    gate.wait(end, [raw = op.release(), st](RbdSizeGate::Verdict v) {
        finish(std::unique_ptr<AioOp>(raw), past_end(v, st));
    });
}

// The arguments of one data call, passed through start_aio's plain function pointer.
struct DataCall {
    rbd_image_t image;
    std::uint64_t off;
    std::uint64_t len;
    char* buf;
    std::size_t unit = 0;  // writesame: the pattern's length
};

// A data call's op: the request ends at byte call.off + call.len.
std::unique_ptr<AioOp> data_op(std::shared_ptr<Handles> h, IoCallback done, const DataCall& call, bool flush_after,
                               std::int64_t expect = -1, bool counts = true) {
    return std::make_unique<AioOp>(AioOp{std::move(done), expect, call.off + call.len, flush_after, std::move(h), counts});
}

// Creates the completion and runs start(completion, arg); a call refused at once completes here.
void start_aio(std::unique_ptr<AioOp> op, int (*start)(rbd_completion_t, void*), void* arg) {
    RbdIoProgress& progress = op->h->progress;
    const bool counts = op->counts;
    rbd_completion_t c = nullptr;
    if (int r = rbd_aio_create_completion(op.get(), on_complete, &c); r < 0) return op->done(rbd_status(r));
    AioOp* raw = op.release();  // owned by the completion from here on
    if (counts) progress.started();
    if (int r = start(c, arg); r < 0) {
        rbd_aio_release(c);
        std::unique_ptr<AioOp> back(raw);
        if (counts) progress.finished();
        if (r == -ESHUTDOWN) progress.fence();
        back->done(rbd_status(r));
    }
}

// A COMPARE AND WRITE in flight: librbd writes the first differing byte's offset to `mismatch`.
// It counts toward the lock watch's stall clock like any write (a CAW waits for the lock too).
struct CompareOp {
    CompareCallback done;
    std::uint64_t off;
    std::uint64_t end;
    bool flush_after;
    std::shared_ptr<Handles> h;
    std::uint64_t mismatch = 0;
};

// Tells a COMPARE AND WRITE's outcome (st: ok, or not_supported for the engine's own).
void compared(std::unique_ptr<CompareOp> op, IoStatus st) {
    if (st != IoStatus::ok || !op->flush_after) {
        if (st == IoStatus::ok) op->h->cache.acked();
        return op->done(st, std::nullopt);
    }
    rbd_image_t image = op->h->image;
    IoCallback flushed = [done = std::move(op->done)](IoStatus s) { done(s, std::nullopt); };
    start_aio(std::make_unique<AioOp>(AioOp{std::move(flushed), -1, 0, false, std::move(op->h), false}), start_flush,
              image);
}

void on_compare(rbd_completion_t c, void* arg) {
    std::unique_ptr<CompareOp> op(static_cast<CompareOp*>(arg));
    const auto r = rbd_aio_get_return_value(c);
    rbd_aio_release(c);
    op->h->progress.finished();
    if (r == -ESHUTDOWN) op->h->progress.fence();
    // librbd 16 reports the mismatch as an offset in the image; older ones within the request.
    if (r == -EILSEQ) return op->done(IoStatus::ok, op->mismatch >= op->off ? op->mismatch - op->off : op->mismatch);
    if (r < 0 && r != -EINVAL) return op->done(rbd_status(static_cast<int>(r)), std::nullopt);
    // -EINVAL: the range crosses an object boundary, which librbd cannot do atomically (the
    // engine then compares and writes itself, atomic within this gateway only), or the end of the
    // image as librbd knows it, which the gate tells (rbd_size_gate.hpp).
    const IoStatus st = r == 0 ? IoStatus::ok : IoStatus::not_supported;
    RbdSizeGate& gate = op->h->size_gate;
    const std::uint64_t end = op->end;
    if (auto v = gate.now(end)) return compared(std::move(op), past_end(*v, st));
    gate.wait(end, [raw = op.release(), st](RbdSizeGate::Verdict v) {
        compared(std::unique_ptr<CompareOp>(raw), past_end(v, st));
    });
}

}  // namespace

RbdBackend::RbdBackend(RbdOptions opts, std::shared_ptr<Handles> h, std::uint64_t size, bool cache, std::string id,
                       std::string unit_id)
    : opts_(std::move(opts)),
      what_("rbd:" + opts_.pool + "/" + opts_.image),
      h_(std::move(h)),
      size_bytes_(size),
      write_cache_(cache),
      image_id_(std::move(id)),
      unit_id_(std::move(unit_id)) {
    h_->cache.set_lost_flag(lost_cache_);
    h_->size_gate.set(size);
    attach(h_, peers_, lock_watch_);
    size_watch_ = watch_size(h_);
}

std::unique_ptr<RbdSizeWatch> RbdBackend::watch_size(const std::shared_ptr<Handles>& h) {
    return std::make_unique<RbdSizeWatch>(h->image, what_, [this](std::uint64_t bytes) { size_seen(bytes, "(seen in its header)"); },
                                          h, &h->size_gate);
}

// A shrink below what initiators already used is the operator's business; from here on the
// engine refuses LBAs past the new end (LOGICAL BLOCK ADDRESS OUT OF RANGE). Until then librbd
// refuses or clips I/O past the image's end, and the completions say LOGICAL BLOCK ADDRESS OUT OF
// RANGE too once the size watch read the new size (rbd_size_gate.hpp): never stale data, never
// a clipped write acknowledged.
void RbdBackend::size_seen(std::uint64_t bytes, const char* when) {
    if (bytes < opts_.block_size) return;
    const std::uint64_t was = size_bytes_.exchange(bytes);
    if (was == bytes) return;
    spdlog::warn("{}: the image was resized to {} bytes (from {}) {}", what_, bytes, was, when);
    notify_access_changed();  // the engine compares the block counts (scsi/lun_alua.cpp)
}

void RbdBackend::attach(const std::shared_ptr<Handles>& h, std::unique_ptr<RbdTpgPeers>& peers,
                        std::unique_ptr<RbdLockWatch>& lock_watch, RbdTpgPeers::Memory carried,
                        const Looked* looked) {
    if (opts_.read_only) return;
    peers = std::make_unique<RbdTpgPeers>(h->cluster, h->io,
                                          "vstor_alua." + (image_id_.empty() ? "name." + opts_.image : image_id_), what_,
                                          std::move(carried), &h->progress, RbdTpgPeers::forget(opts_.forget));
    {
        std::lock_guard lk(cb_mu_);
        if (group_) peers->set_ports(group_, ports_);
    }
    std::uint64_t features = looked ? looked->features : 0;
    if ((looked || rbd_get_features(h->image, &features) == 0) && (features & RBD_FEATURE_EXCLUSIVE_LOCK)) {
        lock_watch = std::make_unique<RbdLockWatch>(h->image, what_, h->progress, opts_.stall, peers.get(), h,
                                                    looked ? &looked->lock : nullptr);
        lock_watch->watch([this] { notify_access_changed(); });
    }
}

// The recovery, the size watch, the lock watch, the port-group registry and the reservation store stop first
// (the store alongside the other two: each waits for the cluster at most 2 s); then the
// connection closes once the I/O still in flight on it completed. All of it shares one bound,
// kTeardownWait, so that a cluster that does not answer holds a LUN removal or a shutdown that
// long at most; what it did not finish by then is left to finish by itself (and logged).
RbdBackend::~RbdBackend() {
    const auto deadline = std::chrono::steady_clock::now() + kTeardownWait;
    stop_recovery();
    util::BoundedThread store;
    if (pr_store_) store = util::BoundedThread([s = pr_store_] { s->close(); });
    size_watch_.reset();
    lock_watch_.reset();
    peers_.reset();
    store.join();  // close() is bounded itself
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    retire(std::move(h_), what_, std::max(left, std::chrono::milliseconds(0)));
}

std::shared_ptr<RbdBackend::Handles> RbdBackend::handles() const {
    std::shared_lock lk(mu_);
    return h_;
}

void RbdBackend::notify_access_changed() {
    std::lock_guard lk(cb_mu_);
    if (changed_) changed_();
}

void RbdBackend::publish_port_group(std::uint16_t group, std::vector<std::uint16_t> relative_ports) {
    {
        std::lock_guard lk(cb_mu_);  // a registry made by a recovery publishes it too
        group_ = group;
        ports_ = relative_ports;
    }
    std::shared_lock lk(mu_);
    if (peers_) peers_->set_ports(group, std::move(relative_ports));
}

// While a recovery reconnects (and until the new connection's registry was read once), the
// peers are reported as this gateway last saw them: see RbdBackend::recover.
std::vector<TargetPortGroup> RbdBackend::peer_port_groups() const {
    std::shared_lock lk(mu_);
    return peers_ && peers_->has_read() ? peers_->peers() : last_peers_;
}

AccessState RbdBackend::access_state() const {
    if (recovering_.load(std::memory_order_acquire)) return AccessState::transitioning;
    std::shared_lock lk(mu_);
    if (h_->progress.fenced.load(std::memory_order_acquire)) return AccessState::transitioning;  // recovery starts
    return lock_watch_ ? lock_watch_->state() : AccessState::active_optimized;
}

void RbdBackend::watch_access_state(std::function<void()> changed) {
    std::lock_guard lk(cb_mu_);  // waits for a call in flight
    changed_ = std::move(changed);
}

BackendCaps RbdBackend::caps() const {
    BackendCaps c;
    c.read_only = opts_.read_only;
    c.thin = !opts_.read_only;
    c.write_cache = write_cache_;
    c.allocation_status = true;
    c.compare_and_write = !opts_.read_only;
    c.write_same = !opts_.read_only;
    return c;
}

BackendIdentity RbdBackend::identity() const {
    BackendIdentity id;
    id.product = "RBD";
    id.serial = image_id_;  // the cluster's id of the image: the same on every gateway
    return id;
}

void RbdBackend::read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) {
    auto h = handles();
    DataCall call{h->image, lba * opts_.block_size, buf.size(), reinterpret_cast<char*>(buf.data())};
    start_aio(data_op(std::move(h), std::move(done), call, false, static_cast<std::int64_t>(buf.size()), false),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_read(d->image, d->off, d->len, d->buf, c);
              },
              &call);
}

void RbdBackend::write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    auto h = handles();
    DataCall call{h->image, lba * opts_.block_size, buf.size(),
                  const_cast<char*>(reinterpret_cast<const char*>(buf.data()))};
    start_aio(data_op(std::move(h), std::move(done), call, fua && write_cache_),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_write(d->image, d->off, d->len, d->buf, c);
              },
              &call);
}

// A flush covers the cached writes acknowledged before it started. After a recovery that lost
// some (rbd_recover.cpp), the next flush fails once: the initiator must not take those writes
// for durable.
void RbdBackend::flush(IoCallback done) {
    if (lost_cache_->exchange(false))
        return done(IoStatus::medium_error, "writes acknowledged from the write cache were lost when this gateway "
                                            "was blocklisted");
    auto h = handles();
    rbd_image_t image = h->image;
    if (write_cache_) h->cache.start_writeback();  // librbd writes back after a first flush at the latest
    const std::uint64_t covers = h->cache.flush_covers();
    IoCallback flushed = [h, covers, done = std::move(done)](IoStatus st, std::string_view why) {
        if (st == IoStatus::ok) h->cache.flushed(covers);
        done(st, why);
    };
    start_aio(std::make_unique<AioOp>(AioOp{std::move(flushed), -1, 0, false, h, false}), start_flush, image);
}

void RbdBackend::unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    // Whole objects are removed; smaller pieces are zeroed because open() turns
    // rbd_skip_partial_discard off, so every unmapped block reads back as zeroes (LBPRZ).
    auto h = handles();
    DataCall call{h->image, lba * opts_.block_size, count * opts_.block_size, nullptr};
    start_aio(data_op(std::move(h), std::move(done), call, false),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_discard(d->image, d->off, d->len, c);
              },
              &call);
}

void RbdBackend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    auto h = handles();
    DataCall call{h->image, lba * opts_.block_size, count * opts_.block_size, nullptr};
    start_aio(data_op(std::move(h), std::move(done), call, false),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_write_zeroes(d->image, d->off, d->len, c, 0, 0);
              },
              &call);
}

void RbdBackend::compare_and_write(std::uint64_t lba, std::span<const std::byte> verify, std::span<const std::byte> data,
                                   bool fua, CompareCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only, std::nullopt);
    const std::uint64_t off = lba * opts_.block_size;
    auto op = std::make_unique<CompareOp>(CompareOp{std::move(done), off, off + verify.size(), fua && write_cache_,
                                                    handles()});
    rbd_completion_t c = nullptr;
    if (int r = rbd_aio_create_completion(op.get(), on_compare, &c); r < 0)
        return op->done(rbd_status(r), std::nullopt);
    CompareOp* raw = op.release();  // owned by the completion from here on
    RbdIoProgress& progress = raw->h->progress;
    progress.started();
    const auto r = rbd_aio_compare_and_write(raw->h->image, off, verify.size(),
                                             reinterpret_cast<const char*>(verify.data()),
                                             reinterpret_cast<const char*>(data.data()), c, &raw->mismatch, 0);
    if (r < 0) {
        rbd_aio_release(c);
        std::unique_ptr<CompareOp> back(raw);
        progress.finished();
        if (r == -ESHUTDOWN) progress.fence();
        back->done(r == -EINVAL ? IoStatus::not_supported : rbd_status(static_cast<int>(r)), std::nullopt);
    }
}

void RbdBackend::write_same(std::uint64_t lba, std::uint64_t count, std::span<const std::byte> pattern, bool fua,
                            IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    auto h = handles();
    DataCall call{h->image, lba * opts_.block_size, count * opts_.block_size,
                  const_cast<char*>(reinterpret_cast<const char*>(pattern.data())), pattern.size()};
    start_aio(data_op(std::move(h), std::move(done), call, fua && write_cache_),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_writesame(d->image, d->off, d->len, d->buf, d->unit, c, 0);
              },
              &call);
}

std::vector<Extent> RbdBackend::allocation_status(std::uint64_t lba, std::uint64_t count) {
    // rbd_diff_iterate2 from the image's creation lists the extents that hold data (whole
    // objects or pieces of them); the blocks between are deallocated. A block that is partly
    // written counts as mapped.
    struct Walk {
        std::vector<Extent> out;
        std::uint64_t next;  // first block not yet described
        std::uint32_t bs;
    } w{{}, lba, opts_.block_size};
    const auto cb = [](std::uint64_t off, std::size_t len, int exists, void* arg) -> int {
        auto* w = static_cast<Walk*>(arg);
        if (!exists || len == 0) return 0;
        const std::uint64_t first = off / w->bs, end = (off + len + w->bs - 1) / w->bs;
        if (end <= w->next) return 0;
        const std::uint64_t from = std::max(first, w->next);
        if (from > w->next) w->out.push_back(Extent{w->next, from - w->next, false});
        if (!w->out.empty() && w->out.back().mapped && w->out.back().lba + w->out.back().count == from)
            w->out.back().count += end - from;
        else
            w->out.push_back(Extent{from, end - from, true});
        w->next = end;
        return 0;
    };
    const int r = rbd_diff_iterate2(handles()->image, nullptr, lba * opts_.block_size, count * opts_.block_size, 1, 0, cb, &w);
    if (r < 0) return {Extent{lba, count, true}};  // unknown: say mapped, which is always safe
    const std::uint64_t end = lba + count;
    if (!w.out.empty() && w.out.back().lba + w.out.back().count > end) w.out.back().count = end - w.out.back().lba;
    if (w.next < end) w.out.push_back(Extent{w.next, end - w.next, false});
    return w.out;
}

IoStatus RbdBackend::resize(std::uint64_t new_block_count) {
    if (opts_.read_only) return IoStatus::read_only;
    const std::uint64_t bytes = new_block_count * opts_.block_size;
    auto h = handles();
    // The engine lets commands go on meanwhile with the old capacity: what completes during a
    // shrink waits for the new size, as after a change made elsewhere (rbd_size_gate.hpp).
    const std::uint64_t upto = h->size_gate.changed();
    const int r = rbd_resize(h->image, bytes);
    std::uint64_t now = 0;
    if (rbd_get_size(h->image, &now) == 0) h->size_gate.read(upto, now);
    else h->size_gate.read_failed(upto);
    if (r < 0) return rbd_status(r);
    size_bytes_.store(bytes);
    return IoStatus::ok;
}

}  // namespace vstor::backends
