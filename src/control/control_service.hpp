// The control plane's operations on a running `vstor serve`: what each JSON-RPC method does.
// Every method checks all of its input before it changes anything, so a failed call leaves the
// adapter, the front ends and the saved plan as they were.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "config/serve_plan.hpp"
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

    // Other front ends (NBD) follow LUN changes through this: called after a LUN is added
    // (spec non-null) or removed (spec null), with the control lock held. `first_target` says
    // whether the LUN belongs to the first target (its exports have the short names).
    using LunHook = std::function<void(const cli::TargetPlan& target, bool first_target, std::uint16_t lun,
                                       const cli::LunSpec* spec)>;
    void on_lun_change(LunHook hook) { hooks_.push_back(std::move(hook)); }
    // ... and access rule changes (ACL, CHAP) through this: called after the change, with the
    // control lock held; returns how many of its connections the new rules closed.
    using AccessHook = std::function<std::size_t()>;
    void on_access_change(AccessHook hook) { access_hooks_.push_back(std::move(hook)); }

    // The running configuration as TOML (what `save` writes).
    std::string render_config() const;

private:
    nlohmann::json status() const;
    nlohmann::json stats() const;
    nlohmann::json lun_add(const nlohmann::json& p);
    nlohmann::json lun_remove(const nlohmann::json& p);
    nlohmann::json lun_resize(const nlohmann::json& p);
    nlohmann::json lun_set_ro(const nlohmann::json& p);
    nlohmann::json lun_medium(const nlohmann::json& p, bool present);
    nlohmann::json target_add(const nlohmann::json& p);
    nlohmann::json target_remove(const nlohmann::json& p);
    nlohmann::json acl_change(const nlohmann::json& p, bool allow);
    nlohmann::json chap_set(const nlohmann::json& p);
    nlohmann::json discovery_chap_set(const nlohmann::json& p);
    nlohmann::json save(const nlohmann::json& p);
    nlohmann::json lun_sanitize(const nlohmann::json& p);
    nlohmann::json lun_progress(const nlohmann::json& p);
    // Runs one SCSI command on the LUN through the control plane's own I_T nexus and waits.
    Completion run_command(const cli::TargetPlan& tp, std::uint16_t lun, std::vector<std::uint8_t> cdb,
                           std::vector<std::uint8_t>& data, DataDirection dir);

    cli::TargetPlan& target_plan(const nlohmann::json& p);  // "target" param, default the first
    cli::LunSpec& lun_plan(cli::TargetPlan& tp, std::uint16_t lun);
    iscsi::TargetConfig iscsi_target(const std::string& name) const;
    cli::ServePlan effective_plan() const;  // plan_ with runtime write protection applied

    Adapter& adapter_;
    iscsi::Server& iscsi_;
    cli::ServePlan plan_;
    std::string config_path_;
    std::vector<LunHook> hooks_;
    std::vector<AccessHook> access_hooks_;
    std::size_t access_changed();  // runs access_hooks_, returns the connections they closed
    std::map<std::pair<std::string, std::uint16_t>, bool> admin_read_only_;
    std::map<std::uint16_t, std::shared_ptr<Nexus>> nexus_;  // the control plane's nexus per adapter target  // `lun set-ro` by target/LUN
    mutable std::mutex mu_;  // one call at a time
};

}  // namespace vstor::control
