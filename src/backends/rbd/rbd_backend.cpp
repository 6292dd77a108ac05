#include "backends/rbd/rbd_backend.hpp"

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "backends/rbd/rbd_handles.hpp"
#include "backends/rbd/rbd_lock_watch.hpp"
#include "backends/rbd/rbd_pr_store.hpp"
#include "backends/rbd/rbd_tpg_peers.hpp"

namespace vstor::backends {

IoStatus rbd_status(int err) {
    switch (err) {
    case 0: return IoStatus::ok;
    case -EROFS: return IoStatus::read_only;  // e.g. another client holds the exclusive lock
    case -ENOSPC:
    case -EDQUOT: return IoStatus::no_space;
    case -ESHUTDOWN:  // Ceph's EBLOCKLISTED: this client was fenced off the cluster
    case -ENOTCONN: return IoStatus::not_ready;
    case -ECANCELED: return IoStatus::aborted;
    case -EOPNOTSUPP: return IoStatus::not_supported;
    default: return IoStatus::medium_error;
    }
}

namespace {

// One rbd_aio_* call in flight: what to tell, how many bytes a read must return (-1: a write-like
// call that returns 0), the image to flush before telling (a FUA write on a cached image), and
// the image's I/O record: a write-like call counts as in flight there (`counts`, the lock
// watch's stall clock), and any call that finds this client blocklisted says so there.
struct AioOp {
    IoCallback done;
    std::int64_t expect = -1;
    rbd_image_t flush_after = nullptr;
    RbdIoProgress* progress = nullptr;
    bool counts = false;
};

void start_aio(rbd_image_t flush_after, std::int64_t expect, IoCallback done,
               int (*start)(rbd_completion_t, void*), void* arg, RbdIoProgress* progress, bool counts = true);

void on_complete(rbd_completion_t c, void* arg) {
    std::unique_ptr<AioOp> op(static_cast<AioOp*>(arg));
    const auto r = rbd_aio_get_return_value(c);
    rbd_aio_release(c);
    if (op->counts) op->progress->finished();
    if (r == -ESHUTDOWN && op->progress) op->progress->fence();
    IoStatus st = IoStatus::ok;
    if (r < 0) st = rbd_status(static_cast<int>(r));
    else if (op->expect >= 0 && r != op->expect) st = IoStatus::medium_error;  // short read
    if (st == IoStatus::ok && op->flush_after) {
        // FUA on a cached image: durable only once flushed. rbd_aio_flush queues and returns.
        auto image = op->flush_after;
        return start_aio(nullptr, -1, std::move(op->done),
                         [](rbd_completion_t cc, void* img) { return rbd_aio_flush(static_cast<rbd_image_t>(img), cc); },
                         image, op->progress, false);
    }
    op->done(st);
}

// Creates the completion and runs start(completion, arg); a call refused at once completes here.
void start_aio(rbd_image_t flush_after, std::int64_t expect, IoCallback done,
               int (*start)(rbd_completion_t, void*), void* arg, RbdIoProgress* progress, bool counts) {
    auto op = std::make_unique<AioOp>(AioOp{std::move(done), expect, flush_after, progress, counts && progress});
    rbd_completion_t c = nullptr;
    if (int r = rbd_aio_create_completion(op.get(), on_complete, &c); r < 0) return op->done(rbd_status(r));
    AioOp* raw = op.release();  // owned by the completion from here on
    if (raw->counts) progress->started();
    if (int r = start(c, arg); r < 0) {
        rbd_aio_release(c);
        std::unique_ptr<AioOp> back(raw);
        if (back->counts) progress->finished();
        back->done(rbd_status(r));
    }
}

// The arguments of one data call, passed through start_aio's plain function pointer.
struct DataCall {
    rbd_image_t image;
    std::uint64_t off;
    std::uint64_t len;
    char* buf;
    std::size_t unit = 0;  // writesame: the pattern's length
};

// A COMPARE AND WRITE in flight: librbd writes the first differing byte's offset to `mismatch`.
// It counts toward the lock watch's stall clock like any write (a CAW waits for the lock too).
struct CompareOp {
    CompareCallback done;
    std::uint64_t off;
    rbd_image_t flush_after;
    RbdIoProgress* progress;
    std::uint64_t mismatch = 0;
};

void on_compare(rbd_completion_t c, void* arg) {
    std::unique_ptr<CompareOp> op(static_cast<CompareOp*>(arg));
    const auto r = rbd_aio_get_return_value(c);
    rbd_aio_release(c);
    op->progress->finished();
    if (r == -ESHUTDOWN) op->progress->fence();
    // librbd 16 reports the mismatch as an offset in the image; older ones within the request.
    if (r == -EILSEQ) return op->done(IoStatus::ok, op->mismatch >= op->off ? op->mismatch - op->off : op->mismatch);
    // -EINVAL: the range crosses an object boundary, which librbd cannot do atomically; the
    // engine then compares and writes itself (atomic within this gateway only).
    if (r == -EINVAL) return op->done(IoStatus::not_supported, std::nullopt);
    if (r < 0) return op->done(rbd_status(static_cast<int>(r)), std::nullopt);
    if (!op->flush_after) return op->done(IoStatus::ok, std::nullopt);
    start_aio(nullptr, -1, [done = std::move(op->done)](IoStatus st) { done(st, std::nullopt); },
              [](rbd_completion_t cc, void* img) { return rbd_aio_flush(static_cast<rbd_image_t>(img), cc); },
              op->flush_after, op->progress, false);
}

}  // namespace

RbdBackend::RbdBackend(RbdOptions opts, std::unique_ptr<Handles> h, std::uint64_t size, bool cache, std::string id,
                       std::string unit_id)
    : opts_(std::move(opts)),
      h_(std::move(h)),
      size_bytes_(size),
      write_cache_(cache),
      image_id_(std::move(id)),
      unit_id_(std::move(unit_id)),
      io_(std::make_unique<RbdIoProgress>()) {
    const std::string what = "rbd:" + opts_.pool + "/" + opts_.image;
    if (opts_.read_only) return;
    peers_ = std::make_unique<RbdTpgPeers>(h_->cluster, h_->io,
                                           "vstor_alua." + (image_id_.empty() ? "name." + opts_.image : image_id_), what);
    std::uint64_t features = 0;
    if (rbd_get_features(h_->image, &features) == 0 && (features & RBD_FEATURE_EXCLUSIVE_LOCK))
        lock_watch_ = std::make_unique<RbdLockWatch>(h_->image, what, *io_, opts_.stall, peers_.get());
}

// The lock watch, the port-group registry and the reservation store stop first; then Handles
// closes the image (waiting for its I/O) and the cluster.
RbdBackend::~RbdBackend() {
    lock_watch_.reset();
    peers_.reset();
    if (pr_store_) pr_store_->close();
}

void RbdBackend::publish_port_group(std::uint16_t group, std::vector<std::uint16_t> relative_ports) {
    if (peers_) peers_->set_ports(group, std::move(relative_ports));
}

std::vector<TargetPortGroup> RbdBackend::peer_port_groups() const {
    return peers_ ? peers_->peers() : std::vector<TargetPortGroup>{};
}

AccessState RbdBackend::access_state() const {
    return lock_watch_ ? lock_watch_->state() : AccessState::active_optimized;
}

void RbdBackend::watch_access_state(std::function<void()> changed) {
    if (lock_watch_) lock_watch_->watch(std::move(changed));
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
    DataCall call{h_->image, lba * opts_.block_size, buf.size(), reinterpret_cast<char*>(buf.data())};
    start_aio(nullptr, static_cast<std::int64_t>(buf.size()), std::move(done),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_read(d->image, d->off, d->len, d->buf, c);
              },
              &call, io_.get(), false);
}

void RbdBackend::write(std::uint64_t lba, std::span<const std::byte> buf, bool fua, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    DataCall call{h_->image, lba * opts_.block_size, buf.size(),
                  const_cast<char*>(reinterpret_cast<const char*>(buf.data()))};
    start_aio(fua && write_cache_ ? h_->image : nullptr, -1, std::move(done),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_write(d->image, d->off, d->len, d->buf, c);
              },
              &call, io_.get());
}

void RbdBackend::flush(IoCallback done) {
    start_aio(nullptr, -1, std::move(done),
              [](rbd_completion_t c, void* img) { return rbd_aio_flush(static_cast<rbd_image_t>(img), c); }, h_->image,
              io_.get(), false);
}

void RbdBackend::unmap(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    // Whole objects are removed; smaller pieces are zeroed because open() turns
    // rbd_skip_partial_discard off, so every unmapped block reads back as zeroes (LBPRZ).
    DataCall call{h_->image, lba * opts_.block_size, count * opts_.block_size, nullptr};
    start_aio(nullptr, -1, std::move(done),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_discard(d->image, d->off, d->len, c);
              },
              &call, io_.get());
}

void RbdBackend::write_zeroes(std::uint64_t lba, std::uint64_t count, IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    DataCall call{h_->image, lba * opts_.block_size, count * opts_.block_size, nullptr};
    start_aio(nullptr, -1, std::move(done),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_write_zeroes(d->image, d->off, d->len, c, 0, 0);
              },
              &call, io_.get());
}

void RbdBackend::compare_and_write(std::uint64_t lba, std::span<const std::byte> verify, std::span<const std::byte> data,
                                   bool fua, CompareCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only, std::nullopt);
    const std::uint64_t off = lba * opts_.block_size;
    auto op = std::make_unique<CompareOp>(
        CompareOp{std::move(done), off, fua && write_cache_ ? h_->image : nullptr, io_.get()});
    rbd_completion_t c = nullptr;
    if (int r = rbd_aio_create_completion(op.get(), on_compare, &c); r < 0)
        return op->done(rbd_status(r), std::nullopt);
    CompareOp* raw = op.release();  // owned by the completion from here on
    io_->started();
    const auto r = rbd_aio_compare_and_write(h_->image, off, verify.size(), reinterpret_cast<const char*>(verify.data()),
                                             reinterpret_cast<const char*>(data.data()), c, &raw->mismatch, 0);
    if (r < 0) {
        rbd_aio_release(c);
        io_->finished();
        std::unique_ptr<CompareOp> back(raw);
        back->done(r == -EINVAL ? IoStatus::not_supported : rbd_status(static_cast<int>(r)), std::nullopt);
    }
}

void RbdBackend::write_same(std::uint64_t lba, std::uint64_t count, std::span<const std::byte> pattern, bool fua,
                            IoCallback done) {
    if (opts_.read_only) return done(IoStatus::read_only);
    DataCall call{h_->image, lba * opts_.block_size, count * opts_.block_size,
                  const_cast<char*>(reinterpret_cast<const char*>(pattern.data())), pattern.size()};
    start_aio(fua && write_cache_ ? h_->image : nullptr, -1, std::move(done),
              [](rbd_completion_t c, void* a) {
                  auto* d = static_cast<DataCall*>(a);
                  return rbd_aio_writesame(d->image, d->off, d->len, d->buf, d->unit, c, 0);
              },
              &call, io_.get());
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
    const int r = rbd_diff_iterate2(h_->image, nullptr, lba * opts_.block_size, count * opts_.block_size, 1, 0, cb, &w);
    if (r < 0) return {Extent{lba, count, true}};  // unknown: say mapped, which is always safe
    const std::uint64_t end = lba + count;
    if (!w.out.empty() && w.out.back().lba + w.out.back().count > end) w.out.back().count = end - w.out.back().lba;
    if (w.next < end) w.out.push_back(Extent{w.next, end - w.next, false});
    return w.out;
}

IoStatus RbdBackend::resize(std::uint64_t new_block_count) {
    if (opts_.read_only) return IoStatus::read_only;
    const std::uint64_t bytes = new_block_count * opts_.block_size;
    if (int r = rbd_resize(h_->image, bytes); r < 0) return rbd_status(r);
    size_bytes_.store(bytes);
    return IoStatus::ok;
}

}  // namespace vstor::backends
