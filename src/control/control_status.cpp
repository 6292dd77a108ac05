// `vstor ctl status` and `stats` (the Prometheus endpoint serves the latter too): read-only views
// of the targets, LUNs, sessions and their counters.
#include <fmt/format.h>

#include "config/lun_builder.hpp"
#include "control/control_context.hpp"
#include "control/method_registry.hpp"

namespace vstor::control {

using nlohmann::json;

namespace {

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

json target_json(const ControlContext& ctx, const cli::TargetPlan& tp) {
    json t{{"name", tp.config.name}, {"alias", tp.config.alias}};
    const auto cfg = ctx.iscsi_target(tp.config.name);
    t["chap"] = cfg.chap.enabled();
    t["mutual_chap"] = !cfg.chap.mutual_user.empty();
    t["allow"] = cfg.allowed_initiators;
    t["luns"] = json::array();
    for (const auto& l : ctx.target_luns(tp)) {
        const cli::LunSpec* spec = nullptr;
        for (const auto& s : tp.luns)
            if (s.lun == l.lun) spec = &s;
        t["luns"].push_back(lun_json(l, spec));
    }
    return t;
}

json status(ControlContext& ctx, const json&) {
    json out;
    out["portals"] = json::array();
    for (const auto& p : ctx.plan.portals) out["portals"].push_back(fmt::format("{}:{}", p.address, p.port));
    const auto dc = ctx.iscsi.discovery_chap();
    out["discovery_chap"] = json{{"chap", dc.enabled()}, {"mutual_chap", !dc.mutual_user.empty()}};
    out["targets"] = json::array();
    for (const auto& tp : ctx.plan.targets) out["targets"].push_back(target_json(ctx, tp));
    out["sessions"] = json::array();
    for (const auto& s : ctx.iscsi.sessions()) {
        out["sessions"].push_back(json{{"initiator", s.initiator},
                                       {"isid", s.isid},
                                       {"tsih", s.tsih},
                                       {"target", s.target},
                                       {"discovery", s.discovery},
                                       {"connections", s.connections}});
    }
    return out;
}

json lun_stats_json(const std::string& target, std::uint16_t lun, const LunStats& s) {
    return json{{"target", target},
                {"lun", lun},
                {"reads", s.reads},
                {"writes", s.writes},
                {"other", s.other},
                {"bytes_read", s.bytes_read},
                {"bytes_written", s.bytes_written},
                {"errors", s.errors},
                {"latency_us",
                 json{{"p50", s.p50_us}, {"p90", s.p90_us}, {"p99", s.p99_us}, {"p99.9", s.p999_us}, {"max", s.max_us}}}};
}

json stats(ControlContext& ctx, const json&) {
    json out{{"luns", json::array()}, {"sessions", json::array()}};
    const auto login = ctx.iscsi.login_stats();
    out["iscsi"] = json{{"chap_failures", login.chap_failures}, {"login_timeouts", login.login_timeouts}};
    for (const auto& ti : ctx.adapter.targets())
        for (const auto& l : ti.luns)
            if (const auto s = ctx.adapter.lun_stats(ti.id, l.lun)) out["luns"].push_back(lun_stats_json(ti.name, l.lun, *s));
    for (const auto& s : ctx.iscsi.sessions()) {
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

}  // namespace

void register_status_methods(MethodRegistry& r) {
    r.add_reader("status", {}, status);
    r.add_reader("stats", {}, stats);
}

}  // namespace vstor::control
