// `vstor ctl`: the control-plane client (JSON-RPC over the serve process's Unix socket).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace vstor::cli {

struct CtlOptions {
    std::string control;  // socket path ("" = default)
    bool json = false;
    double timeout_s = 0;  // --timeout: give up after this long without an answer (0: wait)
    // Arguments of whichever subcommand ran.
    std::string target, spec, size, name, alias, chap, mutual, initiator, path, state;
    std::vector<std::string> allow;
    std::optional<unsigned> lun;
    bool force = false, clear = false;
    bool discovery = false;  // chap set --discovery
    std::string method;  // set by the chosen subcommand's callback
};

void add_ctl_command(CLI::App& app, CtlOptions& opts);
int run_ctl(const CtlOptions& opts);

}  // namespace vstor::cli
