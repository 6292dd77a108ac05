// `vstor serve` from start to shutdown, step by step: check the flags, make the plan, claim the
// control socket, build the adapter, start the front ends, then the control plane and metrics;
// then wait for SIGINT/SIGTERM and stop in reverse order. A refused start is exit 2 and one line.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "cli/serve.hpp"
#include "cli/serve_nbd.hpp"
#include "cli/serve_stop.hpp"
#include "cli/serve_storport.hpp"
#include "cli/shutdown_signal.hpp"
#include "config/lun_builder.hpp"
#include "config/serve_plan.hpp"
#include "control/control_service.hpp"
#include "control/metrics_server.hpp"
#include "control/rpc_server.hpp"
#include "iscsi/server.hpp"
#include "nbd/server.hpp"
#include "vstor/adapter.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor::cli {

namespace {

int fail(const std::string& error) {
    fmt::print(stderr, "vstor: {}\n", error);
    return 2;
}

// Flags that exclude each other or ask for what this build lacks ("" when there are none).
std::string flag_conflict(const ServeOptions& o, const std::string& no_control) {
    if (!no_control.empty() && !o.control.empty() && o.control != "off") return no_control;
    if (o.storport && !o.storport_connect.empty()) return "--storport and --storport-connect exclude each other";
    if (!o.config.empty() && (!o.luns.empty() || !o.listen.empty() || !o.chap.empty() || !o.allow.empty() ||
                              !o.masks.empty() || o.login_timeout || !o.discovery_chap.empty() ||
                              !o.discovery_mutual_chap.empty() || o.max_connections || o.max_connections_per_address))
        return "--config cannot be combined with --listen, --lun, --chap, --allow, --mask, "
               "--login-timeout, --discovery-chap or --max-connections[-per-address]";
    return "";
}

// The plan from the flags or the file, with the NBD flags applied; checked before anything is
// built or listens.
std::optional<ServePlan> make_plan(const ServeOptions& o, std::string& error) {
    auto plan = o.config.empty() ? plan_from_flags(o, error) : load_config_file(o.config, error);
    if (!plan) return std::nullopt;
    // NBD flags win over the file's [nbd] table (and are kept by `ctl save`).
    if (!o.nbd_listen.empty()) plan->nbd_listen = o.nbd_listen;
    if (!o.nbd_tls.empty()) plan->nbd_tls = o.nbd_tls;
    if (!o.nbd_identities.empty()) plan->nbd_identities = o.nbd_identities;
    if (o.nbd_insecure_unauthenticated) plan->nbd_insecure_unauthenticated = true;
    if (o.nbd_handshake_timeout) plan->nbd_handshake_timeout = o.nbd_handshake_timeout;
    if (nbd::ServerConfig nbd_cfg; !nbd_server_config(*plan, nbd_cfg, error)) return std::nullopt;
    // This gateway's ports: the flags win over the file (and are kept by `ctl save`).
    if (o.port_group) plan->port_group = *o.port_group;
    if (o.relative_port) plan->relative_port = *o.relative_port;
    if (!check_relative_ports(*plan, error)) return std::nullopt;
    return plan;
}

// The control socket is claimed first: a --control path that another vstor answers on fails
// the start before any port is opened or any image created. nullptr with `error` empty: this
// server runs without one.
std::unique_ptr<control::RpcServer> claim_control_socket(const ServeOptions& o, const std::string& no_control,
                                                         std::string& path, std::string& error) {
    if (o.control == "off" || !no_control.empty()) return nullptr;
    path = o.control.empty() ? control::default_control_path() : o.control;
    auto server = control::RpcServer::bind(path, error);
    if (!server && o.control.empty()) {
        // Several servers may run with the default path; only the first gets the socket.
        spdlog::warn("vstor: {}; this server has no control socket (give it one with --control PATH)", error);
        error.clear();
    }
    return server;
}

// A start that fails removes the images (and directories) it created; declared before the
// adapter so that the images are closed when it runs.
struct RemoveCreatedUnlessStarted {
    CreatedPaths& paths;
    bool started = false;
    ~RemoveCreatedUnlessStarted() {
        if (!started) paths.discard_all();
    }
};

// Opens every backend and registers targets and LUNs; the first failure is reported.
bool build_adapter(ServePlan& plan, Adapter& adapter, CreatedPaths& created, std::string& error) {
    for (auto& tp : plan.targets) {
        auto tid = adapter.add_target(tp.config.name);
        if (!tid) {
            error = tid.error;
            return false;
        }
        tp.config.adapter_target_id = *tid.value;
        for (std::size_t i = 0; i < tp.luns.size(); ++i) {
            auto& s = tp.luns[i];
            if (!s.lun) s.lun = static_cast<std::uint16_t>(i);  // LUNs are numbered in order unless lun=N
            if (!add_lun_from_spec(adapter, tp.config.adapter_target_id, *s.lun, s, error, &created)) {
                error = fmt::format("{} LUN {}: {}", tp.config.name, *s.lun, error);
                return false;
            }
        }
    }
    return true;
}

iscsi::ServerConfig iscsi_config(const ServeOptions& o, const ServePlan& plan) {
    iscsi::ServerConfig cfg;
    cfg.portals = plan.portals;
    // Portal i is relative target port relative_port + i - 1 of a plan numbered from 1.
    for (auto& p : cfg.portals) p.portal_group_tag = static_cast<std::uint16_t>(p.portal_group_tag + plan.relative_port - 1);
    cfg.event_loops = plan.loops;
    cfg.login_timeout_s = plan.login_timeout_s;
    cfg.busy_poll_us = o.busy_poll_us;
    cfg.discovery_chap = plan.discovery_chap;
    cfg.limits = plan.limits;
    cfg.portals_optional = o.uses_storport();
    // One budget for every front end: the total limit is the server's.
    cfg.write_budget = util::WriteBudget::create(plan.write_buffer_per_session, plan.write_buffer_total);
    if (cfg.portals.empty() && !cfg.event_loops) cfg.event_loops = 1;  // the target registry only
    for (const auto& tp : plan.targets) cfg.targets.push_back(tp.config);
    return cfg;
}

// The running front ends; stop() ends them in the reverse order of their start.
struct FrontEnds {
    std::unique_ptr<iscsi::Server> iscsi;
    std::unique_ptr<nbd::Server> nbd;
    std::unique_ptr<StorportFrontEnd> storport;
    void stop() {
        if (storport) storport->stop();
        if (nbd) nbd->stop();
        if (iscsi) iscsi->stop();
    }
};

// iSCSI, then NBD and StorPort on the same adapter; a failure stops what had started.
bool start_front_ends(const ServeOptions& o, const ServePlan& plan, const iscsi::ServerConfig& cfg, Adapter& adapter,
                      FrontEnds& fe, std::string& error) {
    fe.iscsi = iscsi::Server::create(cfg, adapter, error);
    if (!fe.iscsi) return false;
    fe.iscsi->start();
    // NBD applies the iSCSI server's live access rules, so `ctl acl` and `ctl chap` govern both.
    auto rules = [&iscsi = *fe.iscsi](std::uint16_t target_id) -> std::optional<AccessRules> {
        for (const auto& t : iscsi.target_configs())
            if (t.adapter_target_id == target_id) return t.access_rules();
        return std::nullopt;
    };
    fe.nbd = start_nbd(plan, adapter, rules, error, cfg.write_budget);
    if (!fe.nbd && !error.empty()) {
        fe.stop();
        return false;
    }
    // StorPort: the same LUN objects, handed to vstor.sys (or the emulator) by the bridge service.
    if (o.uses_storport()) {
        fe.storport = StorportFrontEnd::start(o.storport_connect, o.storport_threads, adapter, error);
        if (!fe.storport) {
            fe.stop();
            return false;
        }
        fmt::print("vstor: serving the LUNs to {} (StorPort session {})\n", fe.storport->where(), fe.storport->session());
    }
    return true;
}

void print_portals(const iscsi::ServerConfig& cfg, const iscsi::Server& server, const ServePlan& plan) {
    for (std::size_t i = 0; i < cfg.portals.size(); ++i) {
        const auto& p = cfg.portals[i];
        const std::string host = p.address == "0.0.0.0" ? "127.0.0.1" : p.address;
        const auto port = server.bound_port(i);
        for (const auto& tp : plan.targets)
            fmt::print("vstor: serving {} LUN(s) of {} on iscsi://{}:{}/{}/0\n", tp.luns.size(), tp.config.name, host,
                       port, tp.config.name);
        fmt::print("  try: iscsi-ls -s iscsi://{}:{}\n", host, port);
        fmt::print("       qemu-img info iscsi://{}:{}/{}/0\n", host, port, plan.targets[0].config.name);
        fmt::print("       iscsiadm -m discovery -t st -p {}:{} && iscsiadm -m node -T {} -l\n", host, port,
                   plan.targets[0].config.name);
    }
}

// NBD follows ACL and CHAP changes: they close the NBD connections the new rules refuse. (LUNs
// added or removed at run time it follows through the adapter's LUN events: start_nbd.)
void follow_access_over_nbd(control::ControlService& ctl, nbd::Server& nbd) {
    ctl.on_access_change([&nbd] { return nbd.recheck_access(); });
}

std::unique_ptr<control::MetricsServer> start_metrics(const std::string& listen, control::ControlService& ctl,
                                                      std::string& error) {
    iscsi::PortalConfig where;
    if (!parse_listen(listen, where, error)) return nullptr;
    auto metrics = control::MetricsServer::start(where.address, where.port, ctl, error);
    if (metrics) fmt::print("  metrics: http://{}:{}/metrics\n", where.address, metrics->port());
    return metrics;
}

}  // namespace

int run_serve(const ServeOptions& o) {
    const auto level = spdlog::level::from_str(o.log_level);
    if (level == spdlog::level::off && o.log_level != "off")
        return fail(fmt::format("--log-level '{}': expected trace, debug, info, warn or error", o.log_level));
    spdlog::set_level(level);
    prepare_shutdown_signals();  // before any thread starts: the adapter's workers, librados' threads
    InterruptibleStart start;
    const std::string no_control = control::control_socket_unavailable_reason();
    if (const auto why = flag_conflict(o, no_control); !why.empty()) return fail(why);
    std::string error;
    auto plan = make_plan(o, error);
    if (!plan) return fail(error);
    std::string ctl_path;
    auto ctl_server = claim_control_socket(o, no_control, ctl_path, error);
    if (!ctl_server && !error.empty()) return fail(error);
    if (ctl_server) start.control_socket(ctl_path);

    RemoveCreatedUnlessStarted created{start.created()};
    if (!apply_write_buffer_flags(o, *plan, error)) return fail(error);
    auto adapter = Adapter::create();
    set_target_port_group(*adapter, plan->port_group);
    if (!build_adapter(*plan, *adapter, start.created(), error)) return fail(error);
    start.built();  // from here a signal waits for wait_for_shutdown(), which stops in order
    const auto cfg = iscsi_config(o, *plan);
    FrontEnds fe;
    if (!start_front_ends(o, *plan, cfg, *adapter, fe, error)) return fail(error);
    print_portals(cfg, *fe.iscsi, *plan);

    // The control plane: `vstor ctl` changes LUNs, targets, ACLs and CHAP while clients stay connected.
    control::ControlService ctl_service(*adapter, *fe.iscsi, *plan, o.config);
    if (fe.nbd) follow_access_over_nbd(ctl_service, *fe.nbd);
    if (ctl_server) {
        ctl_server->serve(ctl_service);
        fmt::print("  control: vstor ctl --control {} status\n", ctl_path);
    }
    std::unique_ptr<control::MetricsServer> metrics;
    if (!o.metrics.empty() && !(metrics = start_metrics(o.metrics, ctl_service, error))) {
        if (ctl_server) ctl_server->stop();
        fe.stop();
        return fail(error);
    }
    std::fflush(stdout);
    created.started = true;  // from here on the images are the LUNs' data

    const std::string why = wait_for_shutdown();
    spdlog::info("vstor: {} received, shutting down", why);
    if (metrics) metrics->stop();
    if (ctl_server) ctl_server->stop();
    fe.stop();
    // A failed or unfinished final flush (logged per LUN) may have lost acknowledged writes: say so
    // in the exit status, so that a service manager or script does not take the shutdown for a clean one.
    return final_flush(*adapter, std::chrono::seconds(o.final_flush_timeout)) ? 0 : 1;
}

}  // namespace vstor::cli
