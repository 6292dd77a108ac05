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
}  // namespace

void prepare_shutdown_signals() {
    const sigset_t sigs = shutdown_set();
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
}

std::string wait_for_shutdown() {
    const sigset_t sigs = shutdown_set();
    int sig = 0;
    sigwait(&sigs, &sig);
    return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

}  // namespace vstor::cli
