// How `vstor serve` ends: interrupted while it starts, or once the front ends stopped, with the
// final flush, bounded (serve_stop.cpp).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <thread>

#include "config/lun_builder.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {

// The shutdown signals are blocked before the first thread starts (every thread inherits the
// mask, so none can take a second SIGTERM by its default action during the shutdown). While the
// LUNs are built (which may wait for a cluster), before anything listens, a SIGINT or SIGTERM
// still ends the process at once, as the default action would have, exit status 130, but first
// removes what the start created: the images and directories it made (created()) and the
// control socket it claimed.
class InterruptibleStart {
public:
    InterruptibleStart();
    CreatedPaths& created() { return created_; }
    void control_socket(const std::string& path);
    void built();  // the LUNs are built: from here on wait_for_shutdown() takes the signals
private:
    CreatedPaths created_;
    std::mutex mu_;
    std::string socket_;
    std::jthread watch_;  // last: it uses the members above
};

// Flushes every LUN, waiting at most `limit` (0: as long as it takes) or until a second SIGINT or
// SIGTERM. False when a flush failed or was given up on (serve exits 1, and each LUN is logged).
// Then the rest of the shutdown (the LUNs' teardown, which may wait for a silent store: a command
// it never answered, the flush given up on) gets kTeardownBound, or until the next SIGINT or
// SIGTERM, before the process ends without it (exit status 1).
bool final_flush(Adapter& adapter, std::chrono::seconds limit);

// Longer than an RBD LUN's own teardown bound (10 s), which logs what it left behind.
inline constexpr std::chrono::seconds kTeardownBound{15};

}  // namespace vstor::cli
