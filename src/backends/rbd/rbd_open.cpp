// RbdBackend::open: connect to the cluster, open the image, read what the LUN needs to know.
#include <cstring>
#include <string>

#include <spdlog/spdlog.h>

#include "backends/rbd/rbd_backend.hpp"
#include "backends/rbd/rbd_conf.hpp"
#include "backends/rbd/rbd_handles.hpp"
#include "backends/rbd/rbd_pr_store.hpp"

namespace vstor::backends {

namespace {

std::string failed(const char* what, const RbdOptions& o, int r) {
    return std::string(what) + " (rbd:" + o.pool + "/" + o.image + "): " + std::strerror(-r);
}

bool conf_true(rados_t cluster, const char* key) {
    char value[16] = {};
    if (rados_conf_get(cluster, key, value, sizeof value) < 0) return false;
    return std::strcmp(value, "true") == 0 || std::strcmp(value, "1") == 0;
}

// What every gateway that opens this image computes alike: the cluster, the pool and the image
// (its id; a format-1 image has none, and its name is all there is).
std::string shared_unit_id(rados_t cluster, rados_ioctx_t io, const RbdOptions& o, const char* image_id) {
    char fsid[64] = {};
    if (rados_cluster_fsid(cluster, fsid, sizeof fsid) < 0) fsid[0] = '\0';
    return "ceph:" + std::string(fsid) + ":" + std::to_string(rados_ioctx_get_id(io)) + ":" +
           (image_id[0] ? std::string(image_id) : "name=" + o.image);
}

}  // namespace

std::shared_ptr<RbdBackend::Handles> RbdBackend::Handles::connect(const RbdOptions& o, std::string& error) {
    auto h = std::make_shared<Handles>();
    int r = rados_create(&h->cluster, o.client_id.empty() ? nullptr : o.client_id.c_str());
    if (r < 0) return error = failed("rados_create", o, r), nullptr;
    r = rados_conf_read_file(h->cluster, o.conf.empty() ? nullptr : o.conf.c_str());
    if (r < 0 && !o.conf.empty()) return error = failed(("cannot read " + o.conf).c_str(), o, r), nullptr;
    rados_conf_parse_env(h->cluster, nullptr);  // CEPH_ARGS
    apply_rbd_conf(h->cluster);
    // Writes acknowledged from librbd's cache count as cached (lost if this client is fenced)
    // from the start, or only after the first flush where the file asks to write through until then.
    if (conf_true(h->cluster, "rbd_cache") && !conf_true(h->cluster, "rbd_cache_writethrough_until_flush"))
        h->cache.start_writeback();
    if ((r = rados_connect(h->cluster)) < 0) return error = failed("cannot connect to the cluster", o, r), nullptr;
    if ((r = rados_ioctx_create(h->cluster, o.pool.c_str(), &h->io)) < 0)
        return error = failed("cannot open the pool", o, r), nullptr;
    r = o.read_only ? rbd_open_read_only(h->io, o.image.c_str(), &h->image, nullptr)
                    : rbd_open(h->io, o.image.c_str(), &h->image, nullptr);
    if (r < 0) return error = failed("cannot open the image", o, r), nullptr;
    return h;
}

std::unique_ptr<RbdBackend> RbdBackend::open(const RbdOptions& o, std::string& error) {
    if (o.pool.empty() || o.image.empty()) {
        error = "rbd LUN needs POOL/IMAGE";
        return nullptr;
    }
    auto h = Handles::connect(o, error);
    if (!h) return nullptr;
    int r = 0;
    std::uint64_t size = 0;
    if ((r = rbd_get_size(h->image, &size)) < 0) return error = failed("cannot read the image size", o, r), nullptr;
    if (size < o.block_size) {
        error = "rbd:" + o.pool + "/" + o.image + " is smaller than one block";
        return nullptr;
    }
    char id[64] = {};
    if ((r = rbd_get_id(h->image, id, sizeof id)) < 0) id[0] = '\0';  // old format-1 images have none
    const bool cache = conf_true(h->cluster, "rbd_cache");
    const std::string unit = shared_unit_id(h->cluster, h->io, o, id);
    rados_t cluster = h->cluster;
    rados_ioctx_t io = h->io;
    std::unique_ptr<RbdBackend> b(new RbdBackend(o, std::move(h), size, cache, id, unit));
    // Persistent reservations live next to the image, shared by every gateway (rbd_pr_store.hpp).
    std::string pr_error;
    const std::string object = "vstor_pr." + (id[0] ? std::string(id) : "name." + o.image);
    b->pr_store_ = RbdPrStore::open(cluster, io, object, pr_error, b->h_, fence_of(b->h_));
    if (!b->pr_store_) {
        // Reservations each gateway kept for itself could disagree: refuse, unless read-only.
        if (!o.read_only) return error = "rbd:" + o.pool + "/" + o.image + ": " + pr_error, nullptr;
        spdlog::warn("rbd:{}/{}: persistent reservations not shared with other gateways: {}", o.pool, o.image,
                     pr_error);
    }
    b->start_recovery();  // after a blocklisting, reconnects by itself (rbd_recover.cpp)
    return b;
}

std::shared_ptr<ReservationStore> RbdBackend::reservation_store() { return pr_store_; }

}  // namespace vstor::backends
