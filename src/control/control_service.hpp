// The control plane of a running `vstor serve`: JSON-RPC calls dispatched to the handler a domain
// file registered (method_registry.hpp): status and stats (control_status.cpp), LUNs
// (control_luns.cpp), targets, ACLs and CHAP (control_targets.cpp), SANITIZE
// (control_sanitize.cpp) and save (control_save.cpp). Every method checks all of its input
// before it changes anything, so a failed call leaves the adapter, the front ends and the saved
// plan as they were.
//
// call() is safe from any number of threads. Changes run one at a time, each for its whole
// length (a LUN removal until its backend closed, so a file or image removed can be added again
// at once). Read-only methods (status, stats, lun.progress) run alongside each other and
// alongside a change: they wait only while the change edits the plan, never while it waits for
// storage (a backend being created, resized or closed: ControlContext::unlocked).
#pragma once

#include <nlohmann/json.hpp>

#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>

#include "config/serve_plan.hpp"
#include "control/control_context.hpp"
#include "control/method_registry.hpp"
#include "iscsi/server.hpp"
#include "vstor/adapter.hpp"

namespace vstor::control {

// A JSON-RPC error (code and message go back to the client verbatim).
struct RpcError : std::runtime_error {
    int code;
    RpcError(int c, const std::string& message) : std::runtime_error(message), code(c) {}
};

namespace rpc_code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int failed = -32000;  // the operation was refused (state unchanged)
}  // namespace rpc_code

class ControlService {
public:
    // `plan` is what serve started with (LUN numbers filled in); `config_path` is where `save`
    // writes by default ("" when serve ran from flags).
    ControlService(Adapter& adapter, iscsi::Server& iscsi, cli::ServePlan plan, std::string config_path);

    // Runs one method; throws RpcError.
    nlohmann::json call(const std::string& method, const nlohmann::json& params);
    // Whether `method` only reads (false for an unknown one).
    bool read_only(const std::string& method) const;

    // Other front ends (NBD) follow access rule changes (ACL, CHAP) through this: called after the
    // change, with the control locks held; returns how many of its connections the new rules
    // closed. (LUN changes they follow through the Adapter's LUN events.) Set before calls start.
    using AccessHook = ControlContext::AccessHook;
    void on_access_change(AccessHook hook) { ctx_.access_hooks.push_back(std::move(hook)); }

    // The running configuration as TOML (what `save` writes).
    std::string render_config() const;

private:
    ControlContext ctx_;
    MethodRegistry methods_;
    std::mutex change_mu_;                 // one change at a time, for its whole length
    mutable std::shared_mutex state_mu_;   // ctx_'s plan: ControlContext says who holds it how
};

}  // namespace vstor::control
