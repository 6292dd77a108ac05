// `vstor` command line entry point.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>

#include "cli/commands.hpp"
#include "cli/heap_tuning.hpp"
#include "util/bounded_thread.hpp"

int main(int argc, char** argv) {
    vstor::cli::keep_freed_command_buffers();
    const int rc = vstor::cli::run(argc, argv);
    // A LUN whose cluster stopped answering leaves threads inside librados/librbd calls when it
    // goes (util::BoundedThread); the static destructors that follow `return` would free
    // librados' globals under them (a crash at exit, seen under TSan). End without running them.
    if (const int left = vstor::util::BoundedThread::left_running(); left > 0) {
        spdlog::warn("vstor: {} thread(s) still wait for the cluster: exiting without them", left);
        spdlog::shutdown();
        std::fflush(nullptr);
        std::_Exit(rc);
    }
    return rc;
}
