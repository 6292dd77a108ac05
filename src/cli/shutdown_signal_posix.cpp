// SIGINT/SIGTERM for `vstor serve` on POSIX: blocked before the threads start, taken by sigwait.
#include <csignal>

#include "cli/shutdown_signal.hpp"

namespace vstor::cli {

namespace {
sigset_t shutdown_set() {
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    return sigs;
}
std::string name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }
}  // namespace

void prepare_shutdown_signals() {
    const sigset_t sigs = shutdown_set();
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
}

std::string wait_for_shutdown() {
    const sigset_t sigs = shutdown_set();
    int sig = 0;
    sigwait(&sigs, &sig);
    return name(sig);
}

std::optional<std::string> wait_for_shutdown_for(std::chrono::milliseconds wait) {
    const sigset_t sigs = shutdown_set();
    const timespec ts{static_cast<time_t>(wait.count() / 1000), static_cast<long>(wait.count() % 1000) * 1000000};
    const int sig = sigtimedwait(&sigs, nullptr, &ts);  // -1: none came (EAGAIN) or interrupted
    if (sig < 0) return std::nullopt;
    return name(sig);
}

}  // namespace vstor::cli
