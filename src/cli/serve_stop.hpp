// How `vstor serve` ends: interrupted while it starts, or once the front ends stopped, with the
// final flush, bounded (serve_stop.cpp).
#pragma once

#include <chrono>
#include <functional>
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

// Runs `stop` (the front ends: they ask initiators to log out and wait for the commands still in
// the backends, which a store that stopped answering never ends). When it has not returned within
// `limit` (0: no limit) or a second SIGINT or SIGTERM comes first, the LUNs are flushed from here
// (bounded as final_flush() is; after a second signal at most kFlushWhenAskedNotToWait) and the
// process ends at once with exit status 1.
void stop_front_ends(const std::function<void()>& stop, Adapter& adapter, std::chrono::seconds limit);
inline constexpr std::chrono::seconds kFlushWhenAskedNotToWait{2};

// Flushes every LUN, waiting at most `limit` (0: as long as it takes) or until a second SIGINT or
// SIGTERM. False when a flush failed or was given up on (serve exits 1, and each LUN is logged).
// Then the rest of the shutdown (the LUNs' teardown may wait for the same silent store) gets
// kTeardownAfterGiveUp before the process ends without it.
bool final_flush(Adapter& adapter, std::chrono::seconds limit);

// Longer than an RBD LUN's own teardown bound (10 s), which logs what it left behind.
inline constexpr std::chrono::seconds kTeardownAfterGiveUp{15};

}  // namespace vstor::cli
