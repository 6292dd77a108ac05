// The end of `vstor serve`: a signal while it starts, and the final flush, bounded by
// --final-flush-timeout and by a second SIGINT/SIGTERM, with a watchdog for the teardown that
// follows a flush given up on.
#include "cli/serve_stop.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <stop_token>
#include <thread>
#include <vector>

#include "cli/shutdown_signal.hpp"

namespace vstor::cli {

namespace {

// A backend that did not answer its flush may not answer its teardown either (a plugin's call in
// flight is joined; librbd's close flushes too): end the process if the teardown outlasts the
// bound. Only async-signal-safe-enough calls here: it may fire while static destructors run.
void exit_unless_stopped_within(std::chrono::seconds bound) {
    std::thread([bound] {
        std::this_thread::sleep_for(bound);
        std::fprintf(stderr, "vstor: the shutdown did not finish within %lld s of giving up on the final flush: "
                             "exiting without it\n",
                     static_cast<long long>(bound.count()));
        std::fflush(stderr);
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

std::chrono::milliseconds bound_of(std::chrono::seconds limit) {
    return limit.count() > 0 ? std::chrono::duration_cast<std::chrono::milliseconds>(limit)
                             : std::chrono::milliseconds::max();
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

void stop_front_ends(const std::function<void()>& stop, Adapter& adapter, std::chrono::seconds limit) {
    // The watcher takes the next signal itself (not on_next_request: it also keeps the time).
    std::jthread watch([&adapter, limit](std::stop_token stopped) {
        const auto start = std::chrono::steady_clock::now();
        std::string why;
        bool asked = false;
        while (!stopped.stop_requested() && why.empty()) {
            if (const auto again = wait_for_shutdown_for(std::chrono::milliseconds(100))) {
                why = *again + " again";
                asked = true;
            } else if (limit.count() > 0 && std::chrono::steady_clock::now() - start >= limit) {
                why = "not within " + std::to_string(limit.count()) + " s (--final-flush-timeout)";
            }
        }
        if (why.empty()) return;
        spdlog::error("vstor: the front ends have not stopped, {}: commands are still in a backend that does not "
                      "answer; flushing the LUNs without waiting for them",
                      why);
        // Asked not to wait: the flush still gets a moment, enough for the LUNs that answer.
        const auto flush_limit =
            asked && (limit.count() == 0 || limit > kFlushWhenAskedNotToWait) ? kFlushWhenAskedNotToWait : limit;
        const bool flushed = final_flush(adapter, flush_limit);
        spdlog::error("vstor: exiting with commands still in a backend{}",
                      flushed ? "" : ", and the final flush not done");
        std::fflush(nullptr);
        std::_Exit(1);
    });
    stop();
    watch.request_stop();
}

bool final_flush(Adapter& adapter, std::chrono::seconds limit) {
    std::stop_source give_up;
    // A second request while the flush waits: the operator does not want to wait any longer.
    std::jthread again = on_next_request([&give_up](const std::string& why) {
        spdlog::warn("vstor: {} again: not waiting for the final flush any longer", why);
        give_up.request_stop();
    });
    const bool flushed = adapter.flush_all_within(bound_of(limit), give_up.get_token());
    again.request_stop();
    again.join();
    // (A flush that failed rather than went unanswered gets the same bound: harmless, it is quick.)
    if (!flushed) exit_unless_stopped_within(kTeardownAfterGiveUp);
    return flushed;
}

}  // namespace vstor::cli
