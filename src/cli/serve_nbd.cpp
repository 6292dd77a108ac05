#include "cli/serve_nbd.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <set>

namespace vstor::cli {

bool parse_nbd_listen(const std::string& s, nbd::ListenConfig& out, std::string& error) {
    std::string host = s;
    std::string port;
    if (!s.empty() && s.front() == '[') {  // [v6]:port
        const auto close = s.find(']');
        if (close == std::string::npos) {
            error = fmt::format("--nbd-listen '{}': missing ']'", s);
            return false;
        }
        host = s.substr(1, close - 1);
        if (close + 1 < s.size()) {
            if (s[close + 1] != ':') {
                error = fmt::format("--nbd-listen '{}': expected ':' after ']'", s);
                return false;
            }
            port = s.substr(close + 2);
            if (port.empty()) {
                error = fmt::format("--nbd-listen '{}': empty port", s);
                return false;
            }
        }
    } else if (const auto colon = s.rfind(':'); colon != std::string::npos) {
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (port.empty()) {
            error = fmt::format("--nbd-listen '{}': empty port", s);
            return false;
        }
    }
    out.address = host.empty() ? "0.0.0.0" : host;
    out.port = 10809;
    if (!port.empty()) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(port.c_str(), &end, 10);
        if (*end || v > 65535 || port[0] == '-' || port[0] == '+') {
            error = fmt::format("--nbd-listen '{}': bad port '{}'", s, port);
            return false;
        }
        out.port = static_cast<std::uint16_t>(v);
    }
    return true;
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
            e.name = !tp.luns[i].name.empty() ? tp.luns[i].name
                     : t == 0                 ? fmt::format("lun{}", e.lun)
                                              : fmt::format("{}/lun{}", tp.config.name, e.lun);
            if (!seen.insert(e.name).second) {
                error = fmt::format("NBD export name '{}' is used twice", e.name);
                return false;
            }
            out.push_back(std::move(e));
        }
    }
    return true;
}

std::unique_ptr<nbd::Server> start_nbd(const std::vector<std::string>& listen_flags, const ServePlan& plan,
                                       Adapter& adapter, std::string& error) {
    const auto& listen = listen_flags.empty() ? plan.nbd_listen : listen_flags;
    if (listen.empty()) return nullptr;
    nbd::ServerConfig cfg;
    cfg.event_loops = plan.loops;
    for (const auto& l : listen) {
        nbd::ListenConfig lc;
        if (!parse_nbd_listen(l, lc, error)) return nullptr;
        cfg.listen.push_back(lc);
    }
    if (!nbd_exports(plan, cfg.exports, error)) return nullptr;
    const auto exports = cfg.exports;
    auto server = nbd::Server::create(std::move(cfg), adapter, error);
    if (!server) return nullptr;
    server->start();
    for (std::size_t i = 0; i < listen.size(); ++i) {
        nbd::ListenConfig lc;
        parse_nbd_listen(listen[i], lc, error);
        const std::string host = lc.address == "0.0.0.0" ? "127.0.0.1" : lc.address;
        const auto port = server->bound_port(i);
        fmt::print("vstor: serving {} NBD export(s) on nbd://{}:{} (default export: {})\n", exports.size(), host,
                   port, exports.empty() ? "none" : exports.front().name);
        for (const auto& e : exports) fmt::print("  nbd://{}:{}/{}\n", host, port, e.name);
        fmt::print("  try: nbdinfo --list nbd://{}:{}\n", host, port);
    }
    error.clear();
    return server;
}

}  // namespace vstor::cli
