// The window after a shrink made elsewhere, at the RBD backend itself (used by
// tests/ceph/rbd_resize.sh; docs/ceph.md "What the initiator gets"). The engine refuses LBAs past
// the LUN's end, but the LUN learns a new size a few ms after librbd does, and librbd refuses I/O
// that starts past its end (-EINVAL) and clips I/O that crosses it: a clipped write completes as
// done. Here a gateway's backend writes (so it holds the exclusive lock, as a serving gateway
// does), another client shrinks the image to half, and the backend at once gets the I/O the engine
// would still have let through: every request that starts past or crosses the new end must fail
// with out_of_range (LOGICAL BLOCK ADDRESS OUT OF RANGE), never succeed; a write inside still
// works and reads back.
//
//   shrink_probe POOL/IMAGE     (CEPH_CONF names the cluster; the image is at least 1 MiB)
#include <rados/librados.h>
#include <rbd/librbd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "backends/rbd/rbd_backend.hpp"

using vstor::IoStatus;
using vstor::backends::RbdBackend;

namespace {

constexpr std::uint32_t kBlock = 512;
int failures = 0;

// Waits for one backend call's status (30 s; a call that never completes is a failure too).
template <typename Start>
std::optional<IoStatus> sync(Start start) {
    auto p = std::make_shared<std::promise<IoStatus>>();
    auto f = p->get_future();
    start([p](IoStatus st) { p->set_value(st); });
    if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) return std::nullopt;
    return f.get();
}

void expect(const char* what, std::optional<IoStatus> got, IoStatus want) {
    const bool ok = got && *got == want;
    std::printf("%-44s %-14s%s\n", what, got ? vstor::to_string(*got) : "no completion",
                ok ? "" : (std::string(" FAIL, want ") + vstor::to_string(want)).c_str());
    if (!ok) ++failures;
}

// Another client of the cluster shrinks the image (as another gateway's `ctl lun resize` or an
// operator's `rbd resize` would): 0 or a negative errno.
int shrink_elsewhere(const std::string& pool, const std::string& image, std::uint64_t bytes) {
    rados_t cluster = nullptr;
    rados_ioctx_t io = nullptr;
    rbd_image_t img = nullptr;
    int r = rados_create(&cluster, nullptr);
    if (r == 0) r = rados_conf_read_file(cluster, std::getenv("CEPH_CONF"));
    if (r == 0) r = rados_connect(cluster);
    if (r == 0) r = rados_ioctx_create(cluster, pool.c_str(), &io);
    if (r == 0) r = rbd_open(io, image.c_str(), &img, nullptr);
    if (r == 0) r = rbd_resize(img, bytes);
    if (img) rbd_close(img);
    if (io) rados_ioctx_destroy(io);
    if (cluster) rados_shutdown(cluster);
    return r;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string spec = argc == 2 ? argv[1] : "";
    const auto slash = spec.find('/');
    if (slash == std::string::npos || !std::getenv("CEPH_CONF"))
        return std::fprintf(stderr, "usage: CEPH_CONF=... shrink_probe POOL/IMAGE\n"), 2;
    vstor::backends::RbdOptions o;
    o.pool = spec.substr(0, slash);
    o.image = spec.substr(slash + 1);
    o.conf = std::getenv("CEPH_CONF");
    o.block_size = kBlock;
    std::string error;
    auto b = RbdBackend::open(o, error);
    if (!b) return std::fprintf(stderr, "open: %s\n", error.c_str()), 1;
    const std::uint64_t blocks = b->block_count();
    const std::uint64_t end = blocks / 2;  // the new end, in blocks
    std::vector<std::byte> data(8 * kBlock, std::byte{0x5a}), back(8 * kBlock);
    const std::span<const std::byte> d(data);

    expect("write at 0 (takes the exclusive lock)", sync([&](auto done) { b->write(0, d, false, done); }), IoStatus::ok);
    if (int r = shrink_elsewhere(o.pool, o.image, end * kBlock); r < 0)
        return std::fprintf(stderr, "shrink: %s\n", std::strerror(-r)), 1;
    std::printf("shrunk from %llu to %llu blocks elsewhere; the LUN said %llu blocks when the I/O started\n",
                static_cast<unsigned long long>(blocks), static_cast<unsigned long long>(end),
                static_cast<unsigned long long>(b->block_count()));

    // What the engine lets through while the LUN still has the old size.
    const IoStatus oor = IoStatus::out_of_range;
    expect("write crossing the new end", sync([&](auto done) { b->write(end - 4, d, false, done); }), oor);
    expect("FUA write crossing the new end", sync([&](auto done) { b->write(end - 4, d, true, done); }), oor);
    expect("write past the new end", sync([&](auto done) { b->write(end + 8, d, false, done); }), oor);
    expect("read crossing the new end", sync([&](auto done) { b->read(end - 4, back, done); }), oor);
    expect("read past the new end", sync([&](auto done) { b->read(end + 8, back, done); }), oor);
    const std::span<const std::byte> pattern = d.first(kBlock);
    expect("write same crossing the new end", sync([&](auto done) { b->write_same(end - 4, 8, pattern, false, done); }),
           oor);
    expect("write zeroes crossing the new end", sync([&](auto done) { b->write_zeroes(end - 4, 8, done); }), oor);
    expect("unmap crossing the new end", sync([&](auto done) { b->unmap(end - 4, 8, done); }), oor);
    std::vector<std::byte> verify(2 * kBlock, std::byte{0});
    expect("compare and write crossing the new end", sync([&](auto done) {
               b->compare_and_write(end - 1, verify, d.first(2 * kBlock), false,
                                    [done](IoStatus st, std::optional<std::uint64_t>) { done(st); });
           }),
           oor);

    // Inside the new size all is as before.
    expect("write ending at the new end", sync([&](auto done) { b->write(end - 8, d, true, done); }), IoStatus::ok);
    expect("read ending at the new end", sync([&](auto done) { b->read(end - 8, back, done); }), IoStatus::ok);
    if (back != data) std::printf("FAIL: the write ending at the new end reads back other bytes\n"), ++failures;
    std::printf("the LUN says %llu blocks now\n", static_cast<unsigned long long>(b->block_count()));
    b.reset();
    if (failures) return std::printf("shrink_probe: %d FAILED\n", failures), 1;
    std::printf("shrink_probe: PASS\n");
    return 0;
}
