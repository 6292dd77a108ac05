// The librados/librbd handles of one RBD LUN's cluster connection, closed in reverse order of
// opening. A blocklisted connection is replaced by a fresh one (rbd_recover.cpp), so the data
// path holds a shared_ptr to the Handles it submits on until the request completes: the old
// connection is closed only once nothing uses it any more.
#pragma once

#include <rados/librados.h>
#include <rbd/librbd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "backends/rbd/rbd_backend.hpp"
#include "backends/rbd/rbd_cache_ledger.hpp"
#include "backends/rbd/rbd_lock_watch.hpp"
#include "backends/rbd/rbd_size_gate.hpp"

namespace vstor::backends {

struct RbdBackend::Handles {
    rados_t cluster = nullptr;
    rados_ioctx_t io = nullptr;
    rbd_image_t image = nullptr;
    RbdIoProgress progress;  // this connection's writes in flight, and whether it was fenced
    // What a loss of this connection's volatile write cache would take with it.
    RbdCacheLedger cache;
    // The image's size as this connection's librbd knows it, for the completions: librbd clips
    // a write that crosses the end and reports it done (rbd_size_gate.hpp).
    RbdSizeGate size_gate;

    // Connects (a new client: a new instance id, so a blocklisting of an earlier one does not
    // apply) and opens the image. nullptr with `error` set on failure. Blocks: never on a loop.
    static std::shared_ptr<Handles> connect(const RbdOptions& o, std::string& error);

    Handles() = default;
    Handles(const Handles&) = delete;
    Handles& operator=(const Handles&) = delete;
    ~Handles() {
        if (image) rbd_close(image);  // waits for the image's I/O in flight
        if (io) rados_ioctx_destroy(io);
        if (cluster) rados_shutdown(cluster);
    }
};

}  // namespace vstor::backends
