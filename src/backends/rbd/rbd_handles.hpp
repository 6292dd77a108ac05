// The librados/librbd handles of one RBD LUN, closed in reverse order of opening.
#pragma once

#include <rados/librados.h>
#include <rbd/librbd.h>

#include "backends/rbd/rbd_backend.hpp"

namespace vstor::backends {

struct RbdBackend::Handles {
    rados_t cluster = nullptr;
    rados_ioctx_t io = nullptr;
    rbd_image_t image = nullptr;

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
