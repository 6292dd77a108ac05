// Run an asynchronous backend call and wait for it. Only for worker-pool threads and control
// paths (never on a network event loop).
#pragma once

#include <condition_variable>
#include <mutex>
#include <string>

#include "vstor/backend.hpp"

namespace vstor::util {

// Why the last failed wait_io on this thread failed (the backend's done message), for the engine
// to log when it completes the command (Task::complete takes and clears it). A function, not an
// inline thread_local: mingw-w64 defines such a variable's TLS init function in every object
// that uses it, and vstor.exe then fails to link (multiple definition).
std::string& last_io_message();

template <typename Start>  // Start: void(IoCallback)
IoStatus wait_io(Start&& start) {
    std::mutex m;
    std::condition_variable cv;
    bool done = false;
    IoStatus result = IoStatus::ok;
    std::string message;
    start([&](IoStatus s, std::string_view why) {
        std::lock_guard lk(m);
        result = s;
        message.assign(why);
        done = true;
        cv.notify_one();
    });
    std::unique_lock lk(m);
    cv.wait(lk, [&] { return done; });
    last_io_message() = std::move(message);
    return result;
}

}  // namespace vstor::util
