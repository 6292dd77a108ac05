// `vstor ctl target add|remove`, `acl allow|deny` and `chap set`: targets and who may log in to
// them. Access changes go to the iSCSI server first (it refuses what it cannot apply), then to
// the plan, then to the access hooks (NBD closes the connections the new rules refuse).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <vector>

#include "control/control_context.hpp"
#include "control/control_service.hpp"
#include "control/method_registry.hpp"
#include "control/params.hpp"
#include "util/side_by_side.hpp"

namespace vstor::control {

using nlohmann::json;

namespace {

json target_add(ControlContext& ctx, const json& p) {
    const auto name = req_string(p, "name");
    require_iscsi_name(name, "target name");
    for (const auto& tp : ctx.plan.targets)
        if (tp.config.name == name) refuse("target " + name + " already exists");
    cli::TargetPlan tp;
    tp.config.name = name;
    tp.config.alias = opt_string(p, "alias").value_or("");
    std::string error;
    if (auto c = opt_string(p, "chap"); c && !cli::parse_credentials(*c, "chap", tp.config.chap.user, tp.config.chap.secret, error))
        throw RpcError(rpc_code::invalid_params, error);
    if (const auto* a = member(p, "allow")) {  // a list of strings: checked by the params list
        for (const auto& i : *a) {
            require_iscsi_name(i.get<std::string>(), "'allow' entry");
            tp.config.allowed_initiators.push_back(i.get<std::string>());
        }
    }
    auto id = ctx.adapter.add_target(name);
    if (!id) refuse(id.error);
    tp.config.adapter_target_id = *id.value;
    if (auto st = ctx.iscsi.add_target(tp.config); !st) {
        ctx.adapter.remove_target(*id.value);
        refuse(st.error);
    }
    ctx.plan.targets.push_back(tp);
    spdlog::info("control: added target {}", name);
    return json{{"target", name}};
}

json target_remove(ControlContext& ctx, const json& p) {
    const auto name = req_string(p, "name");
    auto it = std::find_if(ctx.plan.targets.begin(), ctx.plan.targets.end(),
                           [&](const cli::TargetPlan& tp) { return tp.config.name == name; });
    if (it == ctx.plan.targets.end()) refuse("no target " + name);
    if (!opt_bool(p, "force")) {
        for (const auto& s : ctx.iscsi.sessions())
            if (s.target == name) refuse(fmt::format("target {} has a session from {} (use force)", name, s.initiator));
        for (const auto& l : ctx.target_luns(*it))
            if (l.reserved) refuse(fmt::format("LUN {} of {} is reserved (use force)", l.lun, name));
    }
    ctx.iscsi.remove_target(name);  // closes its sessions
    // Each removal returns once its backend closed, which for storage that does not answer (an RBD
    // LUN of a dead cluster) takes its full timeout: the LUNs close side by side, not one by one.
    std::vector<std::uint16_t> luns;
    for (const auto& s : it->luns) luns.push_back(*s.lun);
    ctx.unlocked([&, tid = it->config.adapter_target_id] {
        util::run_side_by_side(luns, [&](std::uint16_t lun) { ctx.adapter.remove_lun(tid, lun, true); },
                               "target remove");
    });
    ctx.adapter.remove_target(it->config.adapter_target_id);
    ctx.plan.targets.erase(it);
    spdlog::info("control: removed target {}", name);
    return json{{"target", name}};
}

// The sessions of `target` that `cfg` (its new rules) no longer admits end: the first `allow`
// turns "everyone" into "only this initiator".
std::size_t close_refused_sessions(ControlContext& ctx, const iscsi::TargetConfig& cfg) {
    std::set<std::string> refused;
    for (const auto& s : ctx.iscsi.sessions())
        if (s.target == cfg.name && !cfg.admits(s.initiator)) refused.insert(s.initiator);
    std::size_t closed = 0;
    for (const auto& name : refused) closed += ctx.iscsi.close_sessions(cfg.name, name);
    return closed;
}

json acl_change(ControlContext& ctx, const json& p, bool allow) {
    auto& tp = ctx.target_plan(p);
    const auto initiator = req_string(p, "initiator");
    require_iscsi_name(initiator, "initiator");
    auto cfg = ctx.iscsi_target(tp.config.name);
    auto& list = cfg.allowed_initiators;
    const bool present = std::find(list.begin(), list.end(), initiator) != list.end();
    if (allow) {
        if (present) refuse(initiator + " is already allowed on " + tp.config.name);
        list.push_back(initiator);
    } else {
        if (!present) refuse(initiator + " is not in the ACL of " + tp.config.name);
        if (list.size() == 1)
            refuse("denying " + initiator + " would empty the ACL of " + tp.config.name +
                   ", and an empty ACL admits every initiator: allow another initiator first");
        std::erase(list, initiator);
    }
    if (auto st = ctx.iscsi.update_target(cfg); !st) refuse(st.error);
    tp.config.allowed_initiators = list;
    std::size_t closed = 0;
    if (!allow) closed = ctx.iscsi.close_sessions(tp.config.name, initiator);
    else if (list.size() == 1) closed = close_refused_sessions(ctx, cfg);
    const std::size_t nbd_closed = ctx.access_changed();
    return json{{"target", tp.config.name}, {"allow", list}, {"sessions_closed", closed},
                {"nbd_connections_closed", nbd_closed}};
}

// `chap set --discovery`: what discovery sessions must authenticate with, for new logins.
json discovery_chap_set(ControlContext& ctx, const json& p) {
    if (member(p, "target")) throw RpcError(rpc_code::invalid_params, "'discovery' and 'target' exclude each other");
    iscsi::ChapCredentials c;
    if (!opt_bool(p, "clear")) {
        std::string error;
        if (!cli::parse_chap_pair(req_string(p, "chap"), opt_string(p, "mutual_chap").value_or(""), "chap", "mutual_chap",
                                  c, error))
            throw RpcError(rpc_code::invalid_params, error);
    }
    if (auto st = ctx.iscsi.set_discovery_chap(c); !st) refuse(st.error);
    ctx.plan.discovery_chap = c;
    spdlog::info("control: discovery CHAP {}", c.enabled() ? (c.mutual_user.empty() ? "on" : "on (mutual)") : "off");
    return json{{"discovery", true}, {"chap", c.enabled()}, {"mutual_chap", !c.mutual_user.empty()}};
}

json chap_set(ControlContext& ctx, const json& p) {
    if (opt_bool(p, "discovery")) return discovery_chap_set(ctx, p);
    auto& tp = ctx.target_plan(p);
    auto cfg = ctx.iscsi_target(tp.config.name);
    std::string error;
    if (opt_bool(p, "clear")) {
        cfg.chap = {};
    } else {
        iscsi::ChapCredentials c;
        if (!cli::parse_credentials(req_string(p, "chap"), "chap", c.user, c.secret, error))
            throw RpcError(rpc_code::invalid_params, error);
        if (auto m = opt_string(p, "mutual_chap");
            m && !cli::parse_credentials(*m, "mutual_chap", c.mutual_user, c.mutual_secret, error))
            throw RpcError(rpc_code::invalid_params, error);
        cfg.chap = c;
    }
    if (auto st = ctx.iscsi.update_target(cfg); !st) refuse(st.error);
    tp.config.chap = cfg.chap;
    // iSCSI sessions keep the login they made; an NBD client has no login to keep, so a target
    // that now requires authentication ends its connections without a TLS identity.
    const std::size_t nbd_closed = ctx.access_changed();
    return json{{"target", tp.config.name}, {"chap", cfg.chap.enabled()}, {"mutual_chap", !cfg.chap.mutual_user.empty()},
                {"nbd_connections_closed", nbd_closed}};
}

}  // namespace

void register_target_methods(MethodRegistry& r) {
    using K = ParamKind;
    r.add("target.add", {{"name", K::text, true}, {"alias", K::text}, {"chap", K::text}, {"allow", K::initiators}},
          target_add);
    r.add("target.remove", {{"name", K::text, true}, {"force", K::flag}}, target_remove);
    r.add("acl.allow", {{"target", K::text}, {"initiator", K::text, true}},
          [](ControlContext& ctx, const json& p) { return acl_change(ctx, p, true); });
    r.add("acl.deny", {{"target", K::text}, {"initiator", K::text, true}},
          [](ControlContext& ctx, const json& p) { return acl_change(ctx, p, false); });
    r.add("chap.set",
          {{"target", K::text}, {"discovery", K::flag}, {"clear", K::flag}, {"chap", K::text}, {"mutual_chap", K::text}},
          chap_set);
}

}  // namespace vstor::control
