// What every control method works on: the running adapter and iSCSI server, the plan `save`
// writes, and the hooks other front ends follow changes through. The lookups here are shared
// by the domain files (control_luns.cpp, control_targets.cpp, ...); a failed lookup is a refusal.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/serve_plan.hpp"
#include "iscsi/server.hpp"
#include "vstor/adapter.hpp"

namespace vstor::control {

// Throws RpcError(failed): the operation was refused and nothing changed.
[[noreturn]] void refuse(const std::string& message);

// The iSCSI name rules (iscsi/iscsi_name.hpp), the same check as serve's flags and TOML file;
// throws RpcError(invalid_params) naming `what`.
void require_iscsi_name(const std::string& name, const std::string& what);

struct ControlContext {
    // Called after an access rule change (ACL, CHAP); returns how many connections it closed.
    using AccessHook = std::function<std::size_t()>;

    ControlContext(Adapter& a, iscsi::Server& s, cli::ServePlan p, std::string path)
        : adapter(a), iscsi(s), plan(std::move(p)), config_path(std::move(path)) {}

    Adapter& adapter;
    iscsi::Server& iscsi;
    cli::ServePlan plan;      // what serve started with, kept up to date by every change
    std::string config_path;  // where `save` writes by default ("" when serve ran from flags)
    std::vector<AccessHook> access_hooks;
    std::map<std::pair<std::string, std::uint16_t>, bool> admin_read_only;  // `lun set-ro` by target/LUN
    std::map<std::uint16_t, std::shared_ptr<Nexus>> nexus;                  // the control plane's own, per adapter target

    cli::TargetPlan& target_plan(const nlohmann::json& p);         // "target" param, default the first
    cli::LunSpec& lun_plan(cli::TargetPlan& tp, std::uint16_t lun);  // refused if the target has no such LUN
    // The adapter's view of the target's LUNs (empty if the adapter has no such target).
    std::vector<LunInfo> target_luns(const cli::TargetPlan& tp) const;
    std::optional<LunInfo> lun_info(const cli::TargetPlan& tp, std::uint16_t lun) const;
    iscsi::TargetConfig iscsi_target(const std::string& name) const;
    cli::ServePlan effective_plan() const;  // plan with runtime write protection applied

    std::size_t access_changed();  // runs access_hooks, returns the connections they closed
};

}  // namespace vstor::control
