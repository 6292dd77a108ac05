// Run an asynchronous backend call and wait for it. Only for worker-pool threads and control
// paths (never on a network event loop).
#pragma once

#include <condition_variable>
#include <mutex>

#include "vstor/backend.hpp"

namespace vstor::util {

template <typename Start>  // Start: void(IoCallback)
IoStatus wait_io(Start&& start) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    IoStatus result = IoStatus::ok;
    start([&](IoStatus s) {
        std::lock_guard lk(m);
        result = s;
        done = true;
        cv.notify_one();
    });
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return done; });
    return result;
}

}  // namespace vstor::util
