// The console control events for `vstor serve` on Windows. The handler runs on a thread of its
// own: it records the event and wakes wait_for_shutdown(). For Ctrl+C and Ctrl+Break it returns at
// once (the process lives on and shuts down in order); for close, logoff and shutdown Windows ends
// the process when the handler returns, so the handler waits (up to 10 s) while main() flushes the
// backends and exits. The event resets when a wait takes it, so that a second Ctrl+C can be seen.
#include <windows.h>

#include <atomic>

#include "cli/shutdown_signal.hpp"

namespace vstor::cli {

namespace {
HANDLE g_event = nullptr;
std::atomic<DWORD> g_what{0};

BOOL WINAPI on_console_event(DWORD what) {
    g_what = what;
    SetEvent(g_event);
    if (what == CTRL_CLOSE_EVENT || what == CTRL_LOGOFF_EVENT || what == CTRL_SHUTDOWN_EVENT) Sleep(10000);
    return TRUE;
}

std::string what_asked() {
    switch (g_what.load()) {
        case CTRL_C_EVENT: return "Ctrl+C";
        case CTRL_BREAK_EVENT: return "Ctrl+Break";
        case CTRL_CLOSE_EVENT: return "console closed";
        case CTRL_LOGOFF_EVENT: return "logoff";
        default: return "system shutdown";
    }
}
}  // namespace

void prepare_shutdown_signals() {
    g_event = CreateEventW(nullptr, FALSE, FALSE, nullptr);  // auto-reset
    SetConsoleCtrlHandler(on_console_event, TRUE);
}

std::string wait_for_shutdown() {
    WaitForSingleObject(g_event, INFINITE);
    return what_asked();
}

std::optional<std::string> wait_for_shutdown_for(std::chrono::milliseconds wait) {
    if (WaitForSingleObject(g_event, static_cast<DWORD>(wait.count())) != WAIT_OBJECT_0) return std::nullopt;
    return what_asked();
}

}  // namespace vstor::cli
