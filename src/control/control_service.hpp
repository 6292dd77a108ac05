// The control plane of a running `vstor serve`: one JSON-RPC call at a time, dispatched to the
// handler a domain file registered (method_registry.hpp): status and stats (control_status.cpp),
// LUNs (control_luns.cpp), targets, ACLs and CHAP (control_targets.cpp), SANITIZE
// (control_sanitize.cpp) and save (control_save.cpp). Every method checks all of its input
// before it changes anything, so a failed call leaves the adapter, the front ends and the saved
// plan as they were.
#pragma once

#include <nlohmann/json.hpp>

#include <mutex>
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

    // Other front ends (NBD) follow access rule changes (ACL, CHAP) through this: called after the
    // change, with the control lock held; returns how many of its connections the new rules
    // closed. (LUN changes they follow through the Adapter's LUN events.)
    using AccessHook = ControlContext::AccessHook;
    void on_access_change(AccessHook hook) { ctx_.access_hooks.push_back(std::move(hook)); }

    // The running configuration as TOML (what `save` writes).
    std::string render_config() const;

private:
    ControlContext ctx_;
    MethodRegistry methods_;
    mutable std::mutex mu_;  // one call at a time
};

}  // namespace vstor::control
