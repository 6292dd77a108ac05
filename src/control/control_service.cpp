#include "control/control_service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <set>

#include "util/endian.hpp"
#include "vstor/lun_address.hpp"

#include "config/lun_builder.hpp"
#include "config/config_writer.hpp"
#include "control/params.hpp"
#include "iscsi/iscsi_name.hpp"

namespace vstor::control {

using nlohmann::json;

namespace {
[[noreturn]] void refuse(const std::string& message) { throw RpcError(rpc_code::failed, message); }

// The iSCSI name rules (iscsi/iscsi_name.hpp), the same check as serve's flags and TOML file.
void require_iscsi_name(const std::string& name, const std::string& what) {
    if (const auto why = iscsi::iscsi_name_problem(name); !why.empty())
        throw RpcError(rpc_code::invalid_params, fmt::format("{} '{}': {}", what, name, why));
}

json lun_json(const LunInfo& l, const cli::LunSpec* spec) {
    auto shown = spec ? *spec : cli::LunSpec{};
    shown.lun.reset();  // the number is shown on its own
    return json{{"lun", l.lun},
                {"spec", spec ? cli::format_lun_spec(shown) : ""},
                {"name", spec ? spec->name : ""},
                {"backend", l.backend_kind},
                {"block_size", l.block_size},
                {"blocks", l.block_count},
                {"size_bytes", l.block_count * l.block_size},
                {"read_only", l.read_only},
                {"removable", l.removable},
                {"thin", l.thin},
                {"medium_present", l.medium_present},
                {"reserved", l.reserved},
                {"reservation_holder", l.reservation_holder},
                {"in_flight", l.in_flight}};
}
}  // namespace

ControlService::ControlService(Adapter& adapter, iscsi::Server& iscsi, cli::ServePlan plan, std::string config_path)
    : adapter_(adapter), iscsi_(iscsi), plan_(std::move(plan)), config_path_(std::move(config_path)) {}

json ControlService::call(const std::string& method, const json& params) {
    std::lock_guard lk(mu_);
    if (!params.is_null() && !params.is_object())
        throw RpcError(rpc_code::invalid_params, "params must be an object with named members");
    if (method == "status") return status();
    if (method == "stats") return stats();
    if (method == "lun.add") return lun_add(params);
    if (method == "lun.remove") return lun_remove(params);
    if (method == "lun.resize") return lun_resize(params);
    if (method == "lun.set_ro") return lun_set_ro(params);
    if (method == "lun.eject") return lun_medium(params, false);
    if (method == "lun.insert") return lun_medium(params, true);
    if (method == "target.add") return target_add(params);
    if (method == "target.remove") return target_remove(params);
    if (method == "acl.allow") return acl_change(params, true);
    if (method == "acl.deny") return acl_change(params, false);
    if (method == "chap.set") return chap_set(params);
    if (method == "save") return save(params);
    if (method == "lun.sanitize") return lun_sanitize(params);
    if (method == "lun.progress") return lun_progress(params);
    throw RpcError(rpc_code::method_not_found, "unknown method '" + method + "'");
}

cli::TargetPlan& ControlService::target_plan(const json& p) {
    const auto name = opt_string(p, "target");
    if (!name) {
        if (plan_.targets.empty()) refuse("there is no target");
        return plan_.targets.front();
    }
    for (auto& tp : plan_.targets)
        if (tp.config.name == *name) return tp;
    refuse("no target " + *name);
}

cli::LunSpec& ControlService::lun_plan(cli::TargetPlan& tp, std::uint16_t lun) {
    for (auto& s : tp.luns)
        if (s.lun == lun) return s;
    refuse(fmt::format("no LUN {} on target {}", lun, tp.config.name));
}

iscsi::TargetConfig ControlService::iscsi_target(const std::string& name) const {
    for (auto& t : iscsi_.target_configs())
        if (t.name == name) return t;
    refuse("no target " + name);
}

json ControlService::status() const {
    json out;
    out["portals"] = json::array();
    for (const auto& p : plan_.portals) out["portals"].push_back(fmt::format("{}:{}", p.address, p.port));
    const auto infos = adapter_.targets();
    const auto dc = iscsi_.discovery_chap();
    out["discovery_chap"] = json{{"chap", dc.enabled()}, {"mutual_chap", !dc.mutual_user.empty()}};
    out["targets"] = json::array();
    for (const auto& tp : plan_.targets) {
        json t{{"name", tp.config.name}, {"alias", tp.config.alias}};
        const auto cfg = iscsi_target(tp.config.name);
        t["chap"] = cfg.chap.enabled();
        t["mutual_chap"] = !cfg.chap.mutual_user.empty();
        t["allow"] = cfg.allowed_initiators;
        t["luns"] = json::array();
        for (const auto& ti : infos) {
            if (ti.id != tp.config.adapter_target_id) continue;
            for (const auto& l : ti.luns) {
                const cli::LunSpec* spec = nullptr;
                for (const auto& s : tp.luns)
                    if (s.lun == l.lun) spec = &s;
                t["luns"].push_back(lun_json(l, spec));
            }
        }
        out["targets"].push_back(std::move(t));
    }
    out["sessions"] = json::array();
    for (const auto& s : iscsi_.sessions()) {
        out["sessions"].push_back(json{{"initiator", s.initiator},
                                       {"isid", s.isid},
                                       {"tsih", s.tsih},
                                       {"target", s.target},
                                       {"discovery", s.discovery},
                                       {"connections", s.connections}});
    }
    return out;
}

json ControlService::stats() const {
    json out{{"luns", json::array()}, {"sessions", json::array()}};
    const auto login = iscsi_.login_stats();
    out["iscsi"] = json{{"chap_failures", login.chap_failures}, {"login_timeouts", login.login_timeouts}};
    for (const auto& ti : adapter_.targets()) {
        for (const auto& l : ti.luns) {
            const auto s = adapter_.lun_stats(ti.id, l.lun);
            if (!s) continue;
            out["luns"].push_back(json{{"target", ti.name},
                                       {"lun", l.lun},
                                       {"reads", s->reads},
                                       {"writes", s->writes},
                                       {"other", s->other},
                                       {"bytes_read", s->bytes_read},
                                       {"bytes_written", s->bytes_written},
                                       {"errors", s->errors},
                                       {"latency_us", json{{"p50", s->p50_us},
                                                           {"p90", s->p90_us},
                                                           {"p99", s->p99_us},
                                                           {"p99.9", s->p999_us},
                                                           {"max", s->max_us}}}});
        }
    }
    for (const auto& s : iscsi_.sessions()) {
        if (s.discovery) continue;
        out["sessions"].push_back(json{{"initiator", s.initiator},
                                       {"isid", s.isid},
                                       {"target", s.target},
                                       {"commands", s.commands},
                                       {"bytes_in", s.bytes_in},
                                       {"bytes_out", s.bytes_out},
                                       {"errors", s.errors}});
    }
    return out;
}

json ControlService::lun_add(const json& p) {
    auto& tp = target_plan(p);
    std::string error;
    auto spec = cli::parse_lun_spec(req_string(p, "spec"), error);
    if (!spec) throw RpcError(rpc_code::invalid_params, error);
    if (auto n = opt_uint(p, "lun", 16383)) {
        if (spec->lun && *spec->lun != *n) throw RpcError(rpc_code::invalid_params, "'lun' and the spec's lun= differ");
        spec->lun = static_cast<std::uint16_t>(*n);
    }
    std::set<std::uint16_t> used;
    for (const auto& s : tp.luns) used.insert(*s.lun);
    if (!spec->lun) {
        std::uint16_t n = 0;
        while (used.count(n)) ++n;
        spec->lun = n;
    }
    if (used.count(*spec->lun)) refuse(fmt::format("LUN {} of {} already exists", *spec->lun, tp.config.name));
    for (const auto& t : plan_.targets) {
        for (const auto& s : t.luns) {
            if (spec->kind == "file" && s.kind == "file" && s.path == spec->path)
                refuse(fmt::format("{} is already LUN {} of {}", spec->path, *s.lun, t.config.name));
            if (!spec->name.empty() && s.name == spec->name)
                refuse(fmt::format("the name '{}' is already used by LUN {} of {}", spec->name, *s.lun, t.config.name));
        }
    }
    if (!cli::add_lun_from_spec(adapter_, tp.config.adapter_target_id, *spec->lun, *spec, error)) refuse(error);
    tp.luns.push_back(*spec);
    std::sort(tp.luns.begin(), tp.luns.end(), [](const auto& a, const auto& b) { return *a.lun < *b.lun; });
    const auto& added = *std::find_if(tp.luns.begin(), tp.luns.end(), [&](const auto& s) { return s.lun == spec->lun; });
    for (const auto& h : hooks_) h(tp, &tp == &plan_.targets.front(), *spec->lun, &added);
    spdlog::info("control: added LUN {} of {}: {}", *spec->lun, tp.config.name, cli::format_lun_spec(*spec));
    return json{{"target", tp.config.name}, {"lun", *spec->lun}};
}

json ControlService::lun_remove(const json& p) {
    auto& tp = target_plan(p);
    const auto lun = req_lun(p);
    lun_plan(tp, lun);
    if (auto st = adapter_.remove_lun(tp.config.adapter_target_id, lun, opt_bool(p, "force")); !st) refuse(st.error);
    std::erase_if(tp.luns, [&](const cli::LunSpec& s) { return s.lun == lun; });
    admin_read_only_.erase({tp.config.name, lun});
    for (const auto& h : hooks_) h(tp, &tp == &plan_.targets.front(), lun, nullptr);
    spdlog::info("control: removed LUN {} of {}", lun, tp.config.name);
    return json{{"target", tp.config.name}, {"lun", lun}};
}

json ControlService::lun_resize(const json& p) {
    auto& tp = target_plan(p);
    const auto lun = req_lun(p);
    auto& spec = lun_plan(tp, lun);
    const auto text = req_string(p, "size");
    const auto bytes = cli::parse_size(text);
    if (!bytes || *bytes == 0) throw RpcError(rpc_code::invalid_params, "bad size '" + text + "' (e.g. 2G, 512M)");
    LunInfo info{};
    for (const auto& ti : adapter_.targets())
        if (ti.id == tp.config.adapter_target_id)
            for (const auto& l : ti.luns)
                if (l.lun == lun) info = l;
    if (*bytes % info.block_size)
        throw RpcError(rpc_code::invalid_params,
                       fmt::format("size {} is not a multiple of the block size {}", *bytes, info.block_size));
    const auto blocks = *bytes / info.block_size;
    if (blocks < info.block_count && !opt_bool(p, "force"))
        refuse(fmt::format("shrinking LUN {} from {} to {} bytes discards data (use force)", lun,
                           info.block_count * info.block_size, *bytes));
    if (auto st = adapter_.resize_lun(tp.config.adapter_target_id, lun, blocks); !st) refuse(st.error);
    spec.size_bytes = *bytes;
    spdlog::info("control: resized LUN {} of {} to {} bytes", lun, tp.config.name, *bytes);
    return json{{"target", tp.config.name}, {"lun", lun}, {"size_bytes", *bytes}};
}

json ControlService::lun_set_ro(const json& p) {
    auto& tp = target_plan(p);
    const auto lun = req_lun(p);
    auto& spec = lun_plan(tp, lun);
    const auto* v = member(p, "read_only");
    if (!v || !v->is_boolean()) throw RpcError(rpc_code::invalid_params, "missing 'read_only' (true or false)");
    const bool ro = v->get<bool>();
    if (!ro && spec.read_only)
        refuse(fmt::format("LUN {} was opened read-only ({}); remove and add it again to make it writable", lun,
                           cli::format_lun_spec(spec)));
    if (auto st = adapter_.set_lun_read_only(tp.config.adapter_target_id, lun, ro); !st) refuse(st.error);
    admin_read_only_[{tp.config.name, lun}] = ro;
    return json{{"target", tp.config.name}, {"lun", lun}, {"read_only", ro}};
}

json ControlService::lun_medium(const json& p, bool present) {
    auto& tp = target_plan(p);
    const auto lun = req_lun(p);
    lun_plan(tp, lun);
    if (auto st = adapter_.set_medium(tp.config.adapter_target_id, lun, present, opt_bool(p, "force")); !st)
        refuse(st.error);
    return json{{"target", tp.config.name}, {"lun", lun}, {"medium_present", present}};
}

json ControlService::target_add(const json& p) {
    const auto name = req_string(p, "name");
    require_iscsi_name(name, "target name");
    for (const auto& tp : plan_.targets)
        if (tp.config.name == name) refuse("target " + name + " already exists");
    cli::TargetPlan tp;
    tp.config.name = name;
    tp.config.alias = opt_string(p, "alias").value_or("");
    std::string error;
    if (auto c = opt_string(p, "chap"); c && !cli::parse_credentials(*c, "chap", tp.config.chap.user, tp.config.chap.secret, error))
        throw RpcError(rpc_code::invalid_params, error);
    if (const auto* a = member(p, "allow")) {
        if (!a->is_array()) throw RpcError(rpc_code::invalid_params, "'allow' must be a list of initiator names");
        for (const auto& i : *a) {
            if (!i.is_string()) throw RpcError(rpc_code::invalid_params, "'allow' must be a list of initiator names");
            require_iscsi_name(i.get<std::string>(), "'allow' entry");
            tp.config.allowed_initiators.push_back(i.get<std::string>());
        }
    }
    auto id = adapter_.add_target(name);
    if (!id) refuse(id.error);
    tp.config.adapter_target_id = *id.value;
    if (auto st = iscsi_.add_target(tp.config); !st) {
        adapter_.remove_target(*id.value);
        refuse(st.error);
    }
    plan_.targets.push_back(tp);
    spdlog::info("control: added target {}", name);
    return json{{"target", name}};
}

json ControlService::target_remove(const json& p) {
    const auto name = req_string(p, "name");
    const bool force = opt_bool(p, "force");
    auto it = std::find_if(plan_.targets.begin(), plan_.targets.end(),
                           [&](const cli::TargetPlan& tp) { return tp.config.name == name; });
    if (it == plan_.targets.end()) refuse("no target " + name);
    if (!force) {
        for (const auto& s : iscsi_.sessions())
            if (s.target == name) refuse(fmt::format("target {} has a session from {} (use force)", name, s.initiator));
        for (const auto& ti : adapter_.targets())
            if (ti.id == it->config.adapter_target_id)
                for (const auto& l : ti.luns)
                    if (l.reserved) refuse(fmt::format("LUN {} of {} is reserved (use force)", l.lun, name));
    }
    iscsi_.remove_target(name);  // closes its sessions
    for (const auto& s : it->luns) {
        adapter_.remove_lun(it->config.adapter_target_id, *s.lun, true);
        for (const auto& h : hooks_) h(*it, it == plan_.targets.begin(), *s.lun, nullptr);
    }
    adapter_.remove_target(it->config.adapter_target_id);
    plan_.targets.erase(it);
    spdlog::info("control: removed target {}", name);
    return json{{"target", name}};
}

json ControlService::acl_change(const json& p, bool allow) {
    auto& tp = target_plan(p);
    const auto initiator = req_string(p, "initiator");
    require_iscsi_name(initiator, "initiator");
    auto cfg = iscsi_target(tp.config.name);
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
    if (auto st = iscsi_.update_target(cfg); !st) refuse(st.error);
    tp.config.allowed_initiators = list;
    std::size_t closed = 0;
    if (!allow) {
        closed = iscsi_.close_sessions(tp.config.name, initiator);
    } else if (list.size() == 1) {
        // The first entry turns "everyone" into "only this initiator": the others' sessions end.
        std::set<std::string> refused;
        for (const auto& s : iscsi_.sessions())
            if (s.target == tp.config.name && !cfg.admits(s.initiator)) refused.insert(s.initiator);
        for (const auto& name : refused) closed += iscsi_.close_sessions(tp.config.name, name);
    }
    const std::size_t nbd_closed = access_changed();
    return json{{"target", tp.config.name}, {"allow", list}, {"sessions_closed", closed},
                {"nbd_connections_closed", nbd_closed}};
}

std::size_t ControlService::access_changed() {
    std::size_t closed = 0;
    for (const auto& h : access_hooks_) closed += h();
    return closed;
}

json ControlService::chap_set(const json& p) {
    if (opt_bool(p, "discovery")) return discovery_chap_set(p);
    auto& tp = target_plan(p);
    auto cfg = iscsi_target(tp.config.name);
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
    if (auto st = iscsi_.update_target(cfg); !st) refuse(st.error);
    tp.config.chap = cfg.chap;
    // iSCSI sessions keep the login they made; an NBD client has no login to keep, so a target
    // that now requires authentication ends its connections without a TLS identity.
    const std::size_t nbd_closed = access_changed();
    return json{{"target", tp.config.name}, {"chap", cfg.chap.enabled()}, {"mutual_chap", !cfg.chap.mutual_user.empty()},
                {"nbd_connections_closed", nbd_closed}};
}

// `chap set --discovery`: what discovery sessions must authenticate with, for new logins.
json ControlService::discovery_chap_set(const json& p) {
    if (member(p, "target")) throw RpcError(rpc_code::invalid_params, "'discovery' and 'target' exclude each other");
    iscsi::ChapCredentials c;
    if (!opt_bool(p, "clear")) {
        std::string error;
        if (!cli::parse_chap_pair(req_string(p, "chap"), opt_string(p, "mutual_chap").value_or(""), "chap", "mutual_chap",
                                  c, error))
            throw RpcError(rpc_code::invalid_params, error);
    }
    if (auto st = iscsi_.set_discovery_chap(c); !st) refuse(st.error);
    plan_.discovery_chap = c;
    spdlog::info("control: discovery CHAP {}", c.enabled() ? (c.mutual_user.empty() ? "on" : "on (mutual)") : "off");
    return json{{"discovery", true}, {"chap", c.enabled()}, {"mutual_chap", !c.mutual_user.empty()}};
}

cli::ServePlan ControlService::effective_plan() const {
    auto plan = plan_;
    for (auto& tp : plan.targets)
        for (auto& s : tp.luns)
            if (auto it = admin_read_only_.find({tp.config.name, *s.lun}); it != admin_read_only_.end() && it->second)
                s.read_only = true;
    return plan;
}

std::string ControlService::render_config() const { return render_toml(effective_plan()); }

json ControlService::save(const json& p) {
    const auto path = opt_string(p, "path").value_or(config_path_);
    if (path.empty()) throw RpcError(rpc_code::invalid_params, "serve was started without --config: give a path to save to");
    std::string error;
    if (!write_file_atomically(path, render_toml(effective_plan()), error)) refuse(error);
    spdlog::info("control: configuration saved to {}", path);
    return json{{"path", path}};
}

}  // namespace vstor::control
