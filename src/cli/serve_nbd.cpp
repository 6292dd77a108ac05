#include "cli/serve_nbd.hpp"

#include "config/host_port.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <set>

namespace vstor::cli {

bool parse_nbd_listen(const std::string& s, nbd::ListenConfig& out, std::string& error) {
    HostPort hp;
    if (!parse_host_port("--nbd-listen", s, nbd::ListenConfig{}.port, hp, error)) return false;
    out.address = hp.address;
    out.port = hp.port;
    return true;
}

bool parse_nbd_tls(const std::string& s, nbd::TlsConfig& out, std::string& error) {
    out = nbd::TlsConfig{};
    std::size_t pos = 0;
    bool first = true;
    while (pos <= s.size()) {
        const auto comma = s.find(',', pos);
        const std::string item = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        pos = comma == std::string::npos ? s.size() + 1 : comma + 1;
        if (first) {
            first = false;
            if (item == "off") out.mode = nbd::TlsConfig::Mode::off;
            else if (item == "on") out.mode = nbd::TlsConfig::Mode::on;
            else if (item == "require") out.mode = nbd::TlsConfig::Mode::require;
            else {
                error = fmt::format("--nbd-tls '{}': expected off, on or require first", s);
                return false;
            }
            continue;
        }
        const auto eq = item.find('=');
        const std::string key = item.substr(0, eq);
        const std::string val = eq == std::string::npos ? "" : item.substr(eq + 1);
        if (val.empty()) {
            error = fmt::format("--nbd-tls '{}': '{}' needs a value (cert=, key=, ca=, psk=)", s, item);
            return false;
        }
        if (key == "cert") out.cert_file = val;
        else if (key == "key") out.key_file = val;
        else if (key == "ca") out.ca_file = val;
        else if (key == "psk") out.psk_file = val;
        else {
            error = fmt::format("--nbd-tls '{}': unknown option '{}' (cert=, key=, ca=, psk=)", s, key);
            return false;
        }
    }
    if (out.mode != nbd::TlsConfig::Mode::off && out.cert_file.empty() && out.psk_file.empty()) {
        error = fmt::format("--nbd-tls '{}': needs cert= and key=, or psk=", s);
        return false;
    }
    return true;
}

std::string nbd_export_name(bool first_target, const std::string& target, const std::string& lun_name,
                            std::uint16_t number) {
    if (!lun_name.empty()) return lun_name;
    return first_target ? fmt::format("lun{}", number) : fmt::format("{}/lun{}", target, number);
}

bool nbd_exports(const ServePlan& plan, std::vector<nbd::ExportConfig>& out, std::string& error) {
    std::set<std::string> seen;
    for (std::size_t t = 0; t < plan.targets.size(); ++t) {
        const auto& tp = plan.targets[t];
        if (!tp.nbd_export) continue;
        for (std::size_t i = 0; i < tp.luns.size(); ++i) {
            nbd::ExportConfig e;
            e.adapter_target_id = tp.config.adapter_target_id;
            e.lun = tp.luns[i].lun.value_or(static_cast<std::uint16_t>(i));  // lun=N, else position
            e.name = nbd_export_name(t == 0, tp.config.name, tp.luns[i].name, e.lun);
            if (!seen.insert(e.name).second) {
                error = fmt::format("NBD export name '{}' is used twice", e.name);
                return false;
            }
            out.push_back(std::move(e));
        }
    }
    return true;
}

std::function<std::optional<nbd::ExportConfig>(const LunEvent&)> nbd_follow_luns(const ServePlan& plan) {
    // The targets are told apart by name: ids may be reused once a target is removed. A target
    // added at run time (`ctl target add`) is exported, as [[target]] nbd defaults to.
    std::set<std::string> not_exported;
    for (const auto& tp : plan.targets)
        if (!tp.nbd_export) not_exported.insert(tp.config.name);
    const std::string first = plan.targets.empty() ? "" : plan.targets.front().config.name;
    return [not_exported, first](const LunEvent& e) -> std::optional<nbd::ExportConfig> {
        if (not_exported.count(e.target_name)) return std::nullopt;
        nbd::ExportConfig x;
        x.name = nbd_export_name(e.target_name == first, e.target_name, e.lun_name, e.lun);
        return x;
    };
}

bool parse_nbd_identity(const std::string& s, std::pair<std::string, std::string>& out, std::string& error) {
    // Split at the last '=': an initiator name has none, a certificate CN might.
    const auto eq = s.rfind('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
        error = fmt::format("--nbd-identity '{}': expected TLS-IDENTITY=INITIATOR-NAME", s);
        return false;
    }
    out = {s.substr(0, eq), s.substr(eq + 1)};
    return check_iscsi_name(out.second, "--nbd-identity '" + s + "'", error);
}

bool check_nbd_handshake_timeout(long long seconds, std::string& error) {
    if (seconds >= 1 && seconds <= 3600) return true;
    error = fmt::format("--nbd-handshake-timeout {}: expected 1 to 3600 seconds", seconds);
    return false;
}

std::string nbd_unenforceable_reason(const ServePlan& plan, const nbd::TlsConfig& tls) {
    std::string why;
    if (tls.mode != nbd::TlsConfig::Mode::require)
        why = "NBD TLS is not required (--nbd-tls require)";
    else if (!tls.cert_file.empty() && tls.ca_file.empty())
        why = "NBD TLS takes certificates without verifying clients (no ca=)";
    else
        return {};
    for (const auto& tp : plan.targets) {
        if (!tp.nbd_export || !tp.config.access_rules().guarded()) continue;
        return fmt::format("target {} is guarded (--chap, --allow or --mask) but {}, so NBD cannot tell who its "
                           "clients are: use --nbd-tls require with psk= or ca=, keep the target off NBD "
                           "([[target]] nbd = false), or accept the risk with --nbd-insecure-unauthenticated",
                           tp.config.name, why);
    }
    return {};
}

bool nbd_server_config(const ServePlan& plan, nbd::ServerConfig& cfg, std::string& error) {
    cfg = nbd::ServerConfig{};
    error.clear();
    if (plan.nbd_listen.empty()) {
        if (!plan.nbd_tls.empty()) error = "--nbd-tls needs --nbd-listen (or [nbd] listen)";
        return error.empty();
    }
    cfg.event_loops = plan.loops;
    cfg.limits = plan.limits;
    if (!plan.nbd_tls.empty() && !parse_nbd_tls(plan.nbd_tls, cfg.tls, error)) return false;
    for (const auto& l : plan.nbd_listen) {
        nbd::ListenConfig lc;
        if (!parse_nbd_listen(l, lc, error)) return false;
        cfg.listen.push_back(lc);
    }
    for (const auto& text : plan.nbd_identities) {
        cfg.access.identities.emplace_back();
        if (!parse_nbd_identity(text, cfg.access.identities.back(), error)) return false;
    }
    if (plan.nbd_handshake_timeout) {
        if (!check_nbd_handshake_timeout(*plan.nbd_handshake_timeout, error)) return false;
        cfg.handshake_timeout_s = static_cast<unsigned>(*plan.nbd_handshake_timeout);
    }
    cfg.access.insecure_unauthenticated = plan.nbd_insecure_unauthenticated;
    if (!plan.nbd_insecure_unauthenticated) error = nbd_unenforceable_reason(plan, cfg.tls);
    return error.empty();
}

std::unique_ptr<nbd::Server> start_nbd(const ServePlan& plan, Adapter& adapter, AccessRulesSource rules,
                                       std::string& error, std::shared_ptr<util::WriteBudget> write_budget) {
    nbd::ServerConfig cfg;
    if (!nbd_server_config(plan, cfg, error) || cfg.listen.empty()) return nullptr;
    cfg.write_budget = std::move(write_budget);
    const auto& listen = plan.nbd_listen;
    cfg.access.rules = std::move(rules);
    if (plan.nbd_insecure_unauthenticated)
        spdlog::warn("vstor: --nbd-insecure-unauthenticated: NBD clients without a TLS identity get every "
                     "exported LUN, whatever --chap, --allow and --mask say");
    const char* scheme = cfg.tls.mode == nbd::TlsConfig::Mode::require ? "nbds" : "nbd";
    if (!nbd_exports(plan, cfg.exports, error)) return nullptr;
    cfg.follow_luns = nbd_follow_luns(plan);
    const auto exports = cfg.exports;
    const auto tls_mode = cfg.tls.mode;
    auto server = nbd::Server::create(std::move(cfg), adapter, error);
    if (!server) return nullptr;
    server->start();
    for (std::size_t i = 0; i < listen.size(); ++i) {
        nbd::ListenConfig lc;
        parse_nbd_listen(listen[i], lc, error);
        const std::string host = lc.address == "0.0.0.0" ? "127.0.0.1" : lc.address;
        const auto port = server->bound_port(i);
        fmt::print("vstor: serving {} NBD export(s) on {}://{}:{} (default export: {}{})\n", exports.size(), scheme,
                   host, port, exports.empty() ? "none" : exports.front().name,
                   tls_mode == nbd::TlsConfig::Mode::off       ? ""
                   : tls_mode == nbd::TlsConfig::Mode::require ? "; TLS required"
                                                                    : "; TLS offered");
        for (const auto& e : exports) fmt::print("  {}://{}:{}/{}\n", scheme, host, port, e.name);
        fmt::print("  try: nbdinfo --list {}://{}:{}\n", scheme, host, port);
    }
    error.clear();
    return server;
}

}  // namespace vstor::cli
