#include "cli/serve.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>

#include "backends/factory.hpp"
#include "cli/lun_spec.hpp"
#include "iscsi/server.hpp"
#include "vstor/adapter.hpp"

namespace vstor::cli {

namespace {

bool split_credentials(const std::string& s, const char* flag, std::string& user, std::string& secret,
                       std::string& error) {
    const auto colon = s.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
        error = fmt::format("{} '{}': expected USER:SECRET", flag, s);
        return false;
    }
    user = s.substr(0, colon);
    secret = s.substr(colon + 1);
    if (secret.size() < 12) {
        error = fmt::format("{}: the secret must be at least 12 characters (RFC 7143 12.1.3)", flag);
        return false;
    }
    return true;
}

bool parse_listen(const std::string& s, iscsi::PortalConfig& p, std::string& error) {
    const auto colon = s.rfind(':');
    std::string host = colon == std::string::npos ? s : s.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    p.address = host.empty() ? "0.0.0.0" : host;
    if (colon != std::string::npos) {
        const std::string port = s.substr(colon + 1);
        char* end = nullptr;
        const unsigned long v = std::strtoul(port.c_str(), &end, 10);
        if (port.empty() || *end || v > 65535) {
            error = fmt::format("--listen '{}': bad port '{}'", s, port);
            return false;
        }
        p.port = static_cast<std::uint16_t>(v);
    }
    return true;
}

}  // namespace

void add_serve_command(CLI::App& app, ServeOptions& o) {
    auto* serve = app.add_subcommand("serve", "Serve LUNs over iSCSI until SIGINT/SIGTERM");
    serve->add_option("--listen", o.listen, "iSCSI portal HOST:PORT (repeatable; default 127.0.0.1:3260)");
    serve->add_option("--lun", o.luns,
                      "LUN spec, numbered from 0 in order: mem:SIZE | null:SIZE | file:PATH[,size=SIZE]"
                      " with options ro, removable, thick, bs=512|4096, name=NAME (default: file:data/disk0.img,size=1G)");
    serve->add_option("--target", o.target, "target IQN")->capture_default_str();
    serve->add_option("--alias", o.alias, "TargetAlias");
    serve->add_option("--chap", o.chap, "require CHAP: USER:SECRET (secret of 12+ characters)");
    serve->add_option("--mutual-chap", o.mutual_chap, "target's own CHAP credentials USER:SECRET (mutual CHAP)");
    serve->add_option("--allow", o.allow, "initiator IQN allowed to log in (repeatable; default: everyone)");
    serve->add_option("--loops", o.loops, "event-loop threads (default: one per core)");
    serve->add_option("--log-level", o.log_level, "trace, debug, info, warn, error")->capture_default_str();
    serve->add_option("--config", o.config, "TOML configuration file");
}

int run_serve(const ServeOptions& o) {
    const auto level = spdlog::level::from_str(o.log_level);
    if (level == spdlog::level::off && o.log_level != "off") {
        fmt::print(stderr, "vstor: --log-level '{}': expected trace, debug, info, warn or error\n", o.log_level);
        return 2;
    }
    spdlog::set_level(level);

    std::string error;
    iscsi::ServerConfig cfg;
    for (const auto& l : o.listen.empty() ? std::vector<std::string>{"127.0.0.1:3260"} : o.listen) {
        iscsi::PortalConfig p;
        if (!parse_listen(l, p, error)) {
            fmt::print(stderr, "vstor: {}\n", error);
            return 2;
        }
        cfg.portals.push_back(p);
    }
    cfg.event_loops = o.loops;

    std::vector<LunSpec> specs;
    for (const auto& text : o.luns.empty() ? std::vector<std::string>{"file:data/disk0.img,size=1G"} : o.luns) {
        auto spec = parse_lun_spec(text, error);
        if (!spec) {
            fmt::print(stderr, "vstor: {}\n", error);
            return 2;
        }
        specs.push_back(*spec);
    }

    iscsi::TargetConfig tc;
    tc.name = o.target;
    tc.alias = o.alias;
    tc.allowed_initiators = o.allow;
    if (!o.chap.empty() && !split_credentials(o.chap, "--chap", tc.chap.user, tc.chap.secret, error)) {
        fmt::print(stderr, "vstor: {}\n", error);
        return 2;
    }
    if (!o.mutual_chap.empty()) {
        if (o.chap.empty()) {
            fmt::print(stderr, "vstor: --mutual-chap needs --chap as well\n");
            return 2;
        }
        if (!split_credentials(o.mutual_chap, "--mutual-chap", tc.chap.mutual_user, tc.chap.mutual_secret, error)) {
            fmt::print(stderr, "vstor: {}\n", error);
            return 2;
        }
    }

    auto adapter = Adapter::create();
    auto tid = adapter->add_target(tc.name);
    if (!tid) {
        fmt::print(stderr, "vstor: {}\n", tid.error);
        return 2;
    }
    tc.adapter_target_id = *tid.value;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        const auto& s = specs[i];
        if (s.kind == "file") {
            const auto dir = std::filesystem::path(s.path).parent_path();
            std::error_code ec;
            if (!dir.empty()) std::filesystem::create_directories(dir, ec);
        }
        backends::BackendSpec bs{s.kind, s.path, s.size_bytes, s.block_size, s.read_only, s.thick, s.removable, false};
        auto backend = backends::open_backend(bs, error);
        if (!backend) {
            fmt::print(stderr, "vstor: LUN {}: {}\n", i, error);
            return 2;
        }
        LunOptions lo;
        lo.read_only = s.read_only;
        lo.removable = s.removable;
        if (s.kind == "file") lo.pr_state_path = s.path + ".pr";
        auto st = adapter->add_lun(tc.adapter_target_id, static_cast<std::uint16_t>(i), backend, lo);
        if (!st) {
            fmt::print(stderr, "vstor: LUN {}: {}\n", i, st.error);
            return 2;
        }
    }
    cfg.targets.push_back(tc);

    // Block the signals before any thread starts so only sigwait below sees them.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    auto server = iscsi::Server::create(cfg, *adapter, error);
    if (!server) {
        fmt::print(stderr, "vstor: {}\n", error);
        return 2;
    }
    server->start();
    for (std::size_t i = 0; i < cfg.portals.size(); ++i) {
        const auto& p = cfg.portals[i];
        const std::string host = p.address == "0.0.0.0" ? "127.0.0.1" : p.address;
        fmt::print("vstor: serving {} LUN(s) of {} on iscsi://{}:{}/{}/0\n", specs.size(), tc.name, host,
                   server->bound_port(i), tc.name);
        fmt::print("  try: iscsi-ls -s iscsi://{}:{}\n", host, server->bound_port(i));
        fmt::print("       iscsiadm -m discovery -t st -p {}:{} && iscsiadm -m node -T {} -l\n", host,
                   server->bound_port(i), tc.name);
    }
    std::fflush(stdout);

    int sig = 0;
    sigwait(&sigs, &sig);
    spdlog::info("vstor: {} received, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    server->stop();
    adapter->flush_all();
    return 0;
}

}  // namespace vstor::cli
