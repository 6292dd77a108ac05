// `vstor serve`'s flags (add_serve_command) and the plan they describe, with the parsers the
// config file shares (serve_plan.hpp). Running it is serve_run.cpp.
#include "cli/serve.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/serve_plan.hpp"
#include "control/rpc_server.hpp"
#include "iscsi/iscsi_name.hpp"
#include "iscsi/server.hpp"

namespace vstor::cli {

std::optional<ServePlan> plan_from_flags(const ServeOptions& o, std::string& error) {
    ServePlan plan;
    plan.loops = o.loops;
    if (o.login_timeout) {
        if (!check_login_timeout(*o.login_timeout, "--login-timeout", error)) return std::nullopt;
        plan.login_timeout_s = static_cast<std::uint32_t>(*o.login_timeout);
    }
    if (o.max_connections) plan.limits.max_connections = *o.max_connections;
    if (o.max_connections_per_address) plan.limits.max_per_address = *o.max_connections_per_address;
    // iSCSI listens on 127.0.0.1:3260 unless told otherwise; with StorPort only where --listen says.
    const auto listen =
        o.listen.empty() && !o.uses_storport() ? std::vector<std::string>{"127.0.0.1:3260"} : o.listen;
    for (const auto& l : listen) {
        iscsi::PortalConfig p;
        if (!parse_listen(l, p, error)) return std::nullopt;
        plan.portals.push_back(p);
    }
    TargetPlan tp;
    if (!check_iscsi_name(o.target, "--target", error)) return std::nullopt;
    for (const auto& a : o.allow)
        if (!check_iscsi_name(a, "--allow", error)) return std::nullopt;
    tp.config.name = o.target;
    tp.config.alias = o.alias;
    tp.config.allowed_initiators = o.allow;
    for (const auto& m : o.masks) {
        tp.config.lun_masks.emplace_back();
        if (!parse_mask(m, tp.config.lun_masks.back(), error)) return std::nullopt;
    }
    for (const auto& text : o.luns.empty() ? std::vector<std::string>{"file:data/disk0.img,size=1G"} : o.luns) {
        auto spec = parse_lun_spec(text, error);
        if (!spec) return std::nullopt;
        tp.luns.push_back(*spec);
    }
    if (!check_masks(tp, error)) return std::nullopt;
    if (!o.chap.empty() && !parse_credentials(o.chap, "--chap", tp.config.chap.user, tp.config.chap.secret, error))
        return std::nullopt;
    if (!o.mutual_chap.empty()) {
        if (o.chap.empty()) {
            error = "--mutual-chap needs --chap as well";
            return std::nullopt;
        }
        if (!parse_credentials(o.mutual_chap, "--mutual-chap", tp.config.chap.mutual_user,
                               tp.config.chap.mutual_secret, error))
            return std::nullopt;
    }
    plan.targets.push_back(std::move(tp));
    if (!parse_chap_pair(o.discovery_chap, o.discovery_mutual_chap, "--discovery-chap", "--discovery-mutual-chap",
                         plan.discovery_chap, error))
        return std::nullopt;
    return plan;
}

// --write-buffer-* flags override the config file's values; sizes as in --lun (64M, 1G).
bool apply_write_buffer_flags(const ServeOptions& o, ServePlan& plan, std::string& error) {
    auto size = [&](const std::string& flag, const std::string& text, std::uint64_t& out) {
        if (text.empty()) return true;
        const auto v = parse_size(text);
        if (!v) {
            error = fmt::format("{} '{}': expected a size such as 64M or 1G (0 = no limit)", flag, text);
            return false;
        }
        out = *v;
        return true;
    };
    if (!size("--write-buffer-per-session", o.write_buffer_per_session, plan.write_buffer_per_session) ||
        !size("--write-buffer-total", o.write_buffer_total, plan.write_buffer_total))
        return false;
    return check_write_buffer_sizes(plan, error);
}

void add_serve_command(CLI::App& app, ServeOptions& o) {
    auto* serve = app.add_subcommand("serve", "Serve LUNs over iSCSI, NBD or StorPort until SIGINT/SIGTERM");
    serve->add_option("--listen", o.listen,
                      "iSCSI portal HOST:PORT (repeatable; default 127.0.0.1:3260, none with --storport)");
    serve->add_option("--nbd-listen", o.nbd_listen, "NBD server HOST:PORT (repeatable; NBD is off unless given)");
    serve->add_option("--nbd-tls", o.nbd_tls,
                      "NBD TLS: on|require,cert=PEM,key=PEM[,ca=PEM] and/or psk=FILE (docs/nbd.md)");
    serve->add_option("--nbd-identity", o.nbd_identities,
                      "NBD TLS-ID=INITIATOR: a client proving this PSK identity or certificate CN is that "
                      "initiator for --allow/--mask/ctl acl (repeatable; unlisted identities are their own name)");
    serve->add_flag("--nbd-insecure-unauthenticated", o.nbd_insecure_unauthenticated,
                    "INSECURE: NBD clients without a TLS identity get every LUN, ignoring --chap/--allow/--mask "
                    "(without it, serve refuses guarded targets NBD cannot authenticate)");
    serve->add_option("--nbd-handshake-timeout", o.nbd_handshake_timeout,
                      "close NBD connections that have not finished option haggling within SECONDS "
                      "(1-3600; default 15)");
    serve->add_option("--lun", o.luns,
                      "LUN spec, numbered from 0 in order: mem:SIZE | null:SIZE | file:PATH[,size=SIZE]"
                      " | rbd:POOL/IMAGE[,conf=PATH,id=NAME,stall_ms=N,forget_ms=N] | plugin:PATH.so[,KEY=VALUE...]"
                      " | python:SCRIPT.py[,KEY=VALUE...] with options ro, removable, thick, bs=512|4096, pbs=4096, sanitize_rate=RATE, name=NAME (default: file:data/disk0.img,size=1G)");
    serve->add_option("--target", o.target, "target name: iqn.YYYY-MM.reversed.domain[:id], eui.<16 hex> or naa.<16|32 hex>")
        ->capture_default_str();
    serve->add_option("--alias", o.alias, "TargetAlias");
    serve->add_option("--chap", o.chap, "require CHAP: USER:SECRET (secret of 12+ characters)");
    serve->add_option("--mutual-chap", o.mutual_chap, "target's own CHAP credentials USER:SECRET (mutual CHAP)");
    serve->add_option("--discovery-chap", o.discovery_chap,
                      "discovery (SendTargets) sessions must authenticate with CHAP USER:SECRET (default: no CHAP)");
    serve->add_option("--discovery-mutual-chap", o.discovery_mutual_chap,
                      "target's own USER:SECRET for mutual CHAP on discovery sessions");
    serve->add_option("--allow", o.allow, "initiator IQN allowed to log in (repeatable; default: everyone)");
    serve->add_option("--mask", o.masks,
                      "LUN masking IQN=LUN[,LUN...]: that initiator sees only these LUNs, which must exist (repeatable)");
    serve->add_option("--loops", o.loops,
                      fmt::format("event-loop threads, at most {} (default 0: one per core)", kMaxEventLoops))
        ->check(CLI::Range(0u, kMaxEventLoops));
    serve->add_option("--login-timeout", o.login_timeout,
                      "seconds an iSCSI connection may take to log in before it is closed (default 15, as LIO)");
    serve->add_option("--iscsi-busy-poll", o.busy_poll_us,
                      fmt::format("microseconds an iSCSI connection with nothing in flight keeps reading its "
                                  "socket before it sleeps (queue depth 1 latency; 0: off, default {})",
                                  iscsi::kDefaultBusyPollUs))
        ->check(CLI::Range(0u, iscsi::kMaxBusyPollUs));
    serve->add_option("--write-buffer-per-session", o.write_buffer_per_session,
                      "SIZE of write data one iSCSI session or NBD connection may hold in memory while it "
                      "arrives; beyond it writes wait (no R2T, MaxCmdSN held; NBD stops reading). 0 = no "
                      "limit (default: 256M, four 64 MiB commands)");
    serve->add_option("--write-buffer-total", o.write_buffer_total,
                      "SIZE of such write data for the whole server (default: 1G; 0 = no limit)");
    serve->add_option("--max-connections", o.max_connections,
                      fmt::format("connections each iSCSI portal and each NBD address serves at once; more are "
                                  "closed at once (default {}, 0: no limit)",
                                  util::kDefaultMaxConnections))
        ->check(CLI::Range(std::size_t{0}, static_cast<std::size_t>(util::kMaxConnectionLimit)));
    serve->add_option("--max-connections-per-address", o.max_connections_per_address,
                      fmt::format("connections from one client address each iSCSI portal and each NBD address "
                                  "serves at once (default {}, 0: no limit)",
                                  util::kDefaultMaxConnectionsPerAddress))
        ->check(CLI::Range(std::size_t{0}, static_cast<std::size_t>(util::kMaxConnectionLimit)));
    serve->add_option("--port-group", o.port_group,
                      "ALUA target port group of this gateway's ports (1-65535, default 1): two gateways "
                      "serving one rbd image give different ones (docs/ceph.md)")
        ->check(CLI::Range(1, 65535));
    serve->add_option("--relative-port", o.relative_port,
                      "relative target port id (and iSCSI portal group tag) of the first portal; the next "
                      "portals count on (1-65535, default 1): different on each gateway of one rbd image")
        ->check(CLI::Range(1, 65535));
    serve->add_option("--final-flush-timeout", o.final_flush_timeout,
                      "seconds a shutdown waits for the LUNs' final flush (writes still in a backend's "
                      "cache) before it gives up, logs the LUNs and exits 1; a second SIGINT/SIGTERM gives "
                      "up at once (0: no limit)")
        ->check(CLI::Range(0u, 86400u))
        ->capture_default_str();
    serve->add_option("--log-level", o.log_level, "trace, debug, info, warn, error")->capture_default_str();
    serve->add_option("--metrics", o.metrics, "Prometheus text endpoint HOST:PORT (GET /metrics; off unless given)");
    serve->add_option("--control", o.control,
                      "control socket for `vstor ctl` (default: " + control::default_control_path() + "; 'off' for none)");
    serve->add_option("--config", o.config, "TOML configuration file (docs/config.md); excludes the target/LUN flags");
    serve->add_flag("--storport", o.storport,
                    "serve the LUNs to the vstor.sys StorPort adapter (Windows; docs/windows.md)");
    serve->add_option("--storport-connect", o.storport_connect,
                      "HOST:PORT: carry the StorPort IOCTLs over TCP to the Linux StorPort emulator (tests)");
    serve->add_option("--storport-threads", o.storport_threads, "StorPort bridge dispatcher threads")
        ->capture_default_str();
}

}  // namespace vstor::cli
