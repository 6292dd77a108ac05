#include "backends/rbd/rbd_conf.hpp"

#include <cstring>

namespace vstor::backends {

namespace {

// Settings this LUN needs whatever the configuration file says.
constexpr const char* kForced[][2] = {
    // A discard smaller than an object must zero its range, not be skipped: unmapped blocks read
    // as zeroes (the LUN says LBPRZ=1), and SCSI UNMAP / NBD trim are usually smaller than 4 MiB.
    {"rbd_skip_partial_discard", "false"},
};

constexpr const char* kDefaults[][2] = {
    // Bounds for a cluster that does not answer: LUN creation fails instead of hanging.
    {"client_mount_timeout", "30"},
    {"rados_mon_op_timeout", "30"},
    // The LUN reports its volatile write cache (WCE=1) from the first command, and a FUA write or
    // SYNCHRONIZE CACHE is a flush, so librbd's cache may acknowledge writes from the start.
    // Ceph's default (true) writes through until the first flush, for guests that never flush:
    // an initiator that sends none (a benchmark) then waits for the OSD on every write, at most
    // QD writes in flight where the cache keeps up to rbd_cache_max_dirty bytes going.
    {"rbd_cache_writethrough_until_flush", "false"},
};

}  // namespace

void apply_rbd_conf(rados_t cluster) {
    // A context that read no file holds Ceph's built-in values to compare with.
    rados_t builtin = nullptr;
    if (rados_create(&builtin, nullptr) == 0) {
        for (const auto& kv : kDefaults) {
            char now[64] = {}, stock[64] = {};
            if (rados_conf_get(cluster, kv[0], now, sizeof now) == 0 &&
                rados_conf_get(builtin, kv[0], stock, sizeof stock) == 0 && std::strcmp(now, stock) == 0)
                rados_conf_set(cluster, kv[0], kv[1]);
        }
        rados_shutdown(builtin);
    }
    for (const auto& kv : kForced) rados_conf_set(cluster, kv[0], kv[1]);
}

}  // namespace vstor::backends
