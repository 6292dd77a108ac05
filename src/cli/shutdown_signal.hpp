// How `vstor serve` learns it should stop. POSIX (shutdown_signal_posix.cpp): SIGINT or SIGTERM,
// blocked in every thread and taken by sigwait. Windows (shutdown_signal_win32.cpp): the console
// control events — Ctrl+C, Ctrl+Break, closing the console window, logoff and system shutdown (Wine
// delivers a SIGINT sent to its process as Ctrl+C).
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace vstor::cli {

// Call before any thread starts (POSIX: so that only wait_for_shutdown() sees the signals).
void prepare_shutdown_signals();

// Blocks until asked to stop; returns what asked ("SIGINT", "SIGTERM", "Ctrl+C", ...).
std::string wait_for_shutdown();

// After wait_for_shutdown(): waits at most `wait` for the next request (a second Ctrl+C or
// SIGTERM during the shutdown); what asked, or nullopt when none came.
std::optional<std::string> wait_for_shutdown_for(std::chrono::milliseconds wait);

}  // namespace vstor::cli
