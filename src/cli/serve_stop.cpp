// The end of `vstor serve`: a signal while it starts, and the final flush, bounded by
// --final-flush-timeout and by a second SIGINT/SIGTERM, with a watchdog for the teardown that
// follows a flush given up on.
#include "cli/serve_stop.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <stop_token>
#include <thread>
#include <vector>

#include "cli/shutdown_signal.hpp"

namespace vstor::cli {

namespace {

// The LUNs' teardown (closing their backends) follows the final flush, and a backend with a call
// still in flight (a command it never answered, a flush given up on) may never close: a plugin's
// calls are joined, librbd's close flushes too. So the process ends without it after `bound`, or
// at the next SIGINT/SIGTERM. Detached: a normal exit does not wait for it. Only
// async-signal-safe-enough calls here: it may fire while static destructors run.
void guard_teardown(std::chrono::seconds bound) {
    std::thread([bound] {
        const auto until = std::chrono::steady_clock::now() + bound;
        std::optional<std::string> why;
        while (!why && std::chrono::steady_clock::now() < until)
            why = wait_for_shutdown_for(std::chrono::milliseconds(100));
        if (why)
            std::fprintf(stderr, "vstor: %s again: not waiting for the LUNs to close: exiting without it\n",
                         why->c_str());
        else
            std::fprintf(stderr, "vstor: the LUNs have not closed within %lld s of the final flush (a backend is "
                                 "still busy): exiting without it\n",
                         static_cast<long long>(bound.count()));
        std::fflush(nullptr);
        std::_Exit(1);
    }).detach();
}

// A thread that takes the next SIGINT/SIGTERM (or console event) until it is stopped, and hands
// what asked to `act`: the signals are blocked in every thread, so someone must wait for them.
std::jthread on_next_request(std::function<void(const std::string&)> act) {
    return std::jthread([act = std::move(act)](std::stop_token stop) {
        while (!stop.stop_requested())
            if (const auto why = wait_for_shutdown_for(std::chrono::milliseconds(100))) return act(*why);
    });
}

}  // namespace

InterruptibleStart::InterruptibleStart()
    : watch_(on_next_request([this](const std::string& why) {
          // The build goes on meanwhile (it may be stuck in a call to a cluster): the list stays
          // held until the process ends, so that it cannot create anything after this.
          std::vector<std::string> made;
          const auto held = created_.discard_all_and_hold(&made);
          std::string socket;
          {
              std::lock_guard lk(mu_);
              socket = socket_;
          }
          std::error_code ec;
          if (!socket.empty()) std::filesystem::remove(socket, ec);
          std::string removed;
          for (const auto& p : made) removed += (removed.empty() ? "" : ", ") + p;
          std::fprintf(stderr, "vstor: %s while building the LUNs: stopped before serving%s%s\n", why.c_str(),
                       made.empty() ? "" : "; removed what this start created: ", removed.c_str());
          std::fflush(nullptr);
          std::_Exit(130);
      })) {}

void InterruptibleStart::control_socket(const std::string& path) {
    std::lock_guard lk(mu_);
    socket_ = path;
}

void InterruptibleStart::built() {
    watch_.request_stop();
    if (watch_.joinable()) watch_.join();
}

bool final_flush(Adapter& adapter, std::chrono::seconds limit) {
    std::stop_source give_up;
    // A second request while the flush waits: the operator does not want to wait any longer.
    std::jthread again = on_next_request([&give_up](const std::string& why) {
        spdlog::warn("vstor: {} again: not waiting for the final flush any longer", why);
        give_up.request_stop();
    });
    const auto bound = limit.count() > 0 ? std::chrono::duration_cast<std::chrono::milliseconds>(limit)
                                         : std::chrono::milliseconds::max();
    const bool flushed = adapter.flush_all_within(bound, give_up.get_token());
    again.request_stop();
    again.join();
    guard_teardown(kTeardownBound);
    return flushed;
}

}  // namespace vstor::cli
