#include "control/control_context.hpp"

#include <fmt/format.h>

#include "control/control_service.hpp"
#include "control/params.hpp"
#include "iscsi/iscsi_name.hpp"

namespace vstor::control {

using nlohmann::json;

void refuse(const std::string& message) { throw RpcError(rpc_code::failed, message); }

void require_iscsi_name(const std::string& name, const std::string& what) {
    if (const auto why = iscsi::iscsi_name_problem(name); !why.empty())
        throw RpcError(rpc_code::invalid_params, fmt::format("{} '{}': {}", what, name, why));
}

cli::TargetPlan& ControlContext::target_plan(const json& p) {
    const auto name = opt_string(p, "target");
    if (!name) {
        if (plan.targets.empty()) refuse("there is no target");
        return plan.targets.front();
    }
    for (auto& tp : plan.targets)
        if (tp.config.name == *name) return tp;
    refuse("no target " + *name);
}

cli::LunSpec& ControlContext::lun_plan(cli::TargetPlan& tp, std::uint16_t lun) {
    for (auto& s : tp.luns)
        if (s.lun == lun) return s;
    refuse(fmt::format("no LUN {} on target {}", lun, tp.config.name));
}

std::vector<LunInfo> ControlContext::target_luns(const cli::TargetPlan& tp) const {
    for (auto& ti : adapter.targets())
        if (ti.id == tp.config.adapter_target_id) return std::move(ti.luns);
    return {};
}

std::optional<LunInfo> ControlContext::lun_info(const cli::TargetPlan& tp, std::uint16_t lun) const {
    for (auto& l : target_luns(tp))
        if (l.lun == lun) return std::move(l);
    return std::nullopt;
}

iscsi::TargetConfig ControlContext::iscsi_target(const std::string& name) const {
    for (auto& t : iscsi.target_configs())
        if (t.name == name) return t;
    refuse("no target " + name);
}

cli::ServePlan ControlContext::effective_plan() const {
    auto out = plan;
    for (auto& tp : out.targets)
        for (auto& s : tp.luns)
            if (auto it = admin_read_only.find({tp.config.name, *s.lun}); it != admin_read_only.end() && it->second)
                s.read_only = true;
    return out;
}

std::shared_ptr<Nexus> ControlContext::control_nexus(const cli::TargetPlan& tp) {
    std::lock_guard lk(nexus_mu_);
    auto& nexus = nexus_[tp.config.adapter_target_id];
    if (!nexus) nexus = adapter.open_nexus(tp.config.adapter_target_id, "vstor-ctl,i,0x0");
    return nexus;
}

std::size_t ControlContext::access_changed() {
    std::size_t closed = 0;
    for (const auto& h : access_hooks) closed += h();
    return closed;
}

}  // namespace vstor::control
