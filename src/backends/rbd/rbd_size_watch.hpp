// Notices an RBD image resized by another client: another gateway's `vstor ctl lun resize`, or an
// operator's `rbd resize`. librbd's update watch (rbd_update_watch) calls back on a librbd thread
// whenever the image header changes; the callback only wakes a thread of the watch's own (it must
// never block there), which reads the size again (rbd_get_size refreshes the image from its header
// first: it may ask an OSD) and hands it to `seen`, which compares it with the LUN's. It tells
// `gate` (may be null) of each change and read, for the completions of the connection's I/O
// (rbd_size_gate.hpp).
#pragma once

#include <rbd/librbd.h>

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "backends/rbd/rbd_size_gate.hpp"
#include "util/bounded_thread.hpp"

namespace vstor::backends {

class RbdSizeWatch {
public:
    // Registers the update watch and reads the size once (a resize between the caller's own read
    // and the registration is not missed). `seen` runs on the watch's thread, never after the
    // destructor returned. `keep` keeps `image` open, and `gate`, while the thread may use them.
    RbdSizeWatch(rbd_image_t image, std::string what, std::function<void(std::uint64_t bytes)> seen,
                 std::shared_ptr<const void> keep, RbdSizeGate* gate = nullptr);
    // Unregisters the watch on its thread and waits for that at most RbdLockWatch::kStopWait (a
    // read of the header may hang on a cluster that does not answer); then the thread is left to
    // finish by itself, holding the connection until it does (util::BoundedThread).
    ~RbdSizeWatch();
    RbdSizeWatch(const RbdSizeWatch&) = delete;
    RbdSizeWatch& operator=(const RbdSizeWatch&) = delete;

private:
    // What the thread works on: its own, since it may outlive the watch.
    struct State {
        std::mutex mu;  // guards pending and stop; never held across a call
        std::condition_variable cv;
        bool pending = true;  // the header changed since the last read (true: read once at the start)
        bool stop = false;
        std::mutex life_mu;  // held while `seen` runs; the destructor takes it to set life_stop
        bool life_stop = false;
        rbd_image_t image = nullptr;
        std::string what;
        std::function<void(std::uint64_t)> seen;
        std::shared_ptr<const void> keep;
        std::uint64_t handle = 0;
        RbdSizeGate* gate = nullptr;
    };
    static void on_update(void* arg);  // librbd's thread: only wakes the watch's
    static void run(const std::shared_ptr<State>& st);

    std::shared_ptr<State> st_;
    util::BoundedThread thread_;
};

}  // namespace vstor::backends
