// vstor::NbdServer (include/vstor/nbd_server.hpp): the public face of nbd::Server. It turns the
// few options a program needs into the server's full config and hides the rest.
#include "vstor/nbd_server.hpp"

#include "nbd/server.hpp"

#include <set>

namespace vstor {

struct NbdServer::Impl {
    std::unique_ptr<nbd::Server> server;
};

namespace {

// Every LUN the Adapter has now, named as `vstor serve` names them.
std::vector<NbdExport> every_lun(const Adapter& adapter) {
    std::vector<NbdExport> out;
    const auto targets = adapter.targets();
    for (std::size_t t = 0; t < targets.size(); ++t)
        for (const auto& lun : targets[t].luns) {
            const auto name = "lun" + std::to_string(lun.lun);
            out.push_back({t == 0 ? name : targets[t].name + "/" + name, targets[t].id, lun.lun, {}});
        }
    return out;
}

bool lun_exists(const Adapter& adapter, std::uint16_t target, std::uint16_t lun) {
    for (const auto& t : adapter.targets())
        if (t.id == target)
            for (const auto& l : t.luns)
                if (l.lun == lun) return true;
    return false;
}

bool export_configs(const std::vector<NbdExport>& exports, const Adapter& adapter,
                    std::vector<nbd::ExportConfig>& out, std::string& error) {
    if (exports.empty()) error = "no LUN to export (Adapter::add_lun first, or name the exports)";
    std::set<std::string> names;
    for (const auto& e : exports) {
        if (!lun_exists(adapter, e.adapter_target, e.lun))
            error = "NBD export '" + e.name + "': the Adapter has no LUN " + std::to_string(e.lun) + " on target " +
                    std::to_string(e.adapter_target);
        else if (!names.insert(e.name).second)
            error = "NBD export name '" + e.name + "' is used twice";
        if (!error.empty()) return false;
        out.push_back(nbd::ExportConfig{e.name, e.description, e.adapter_target, e.lun});
    }
    return error.empty();
}

nbd::TlsConfig to_tls(const NbdTls& t) {
    using Mode = nbd::TlsConfig::Mode;
    const Mode mode = t.mode == NbdTls::Mode::require ? Mode::require : t.mode == NbdTls::Mode::on ? Mode::on : Mode::off;
    return {mode, t.cert_file, t.key_file, t.ca_file, t.psk_file};
}

}  // namespace

Result<NbdServer> NbdServer::create(NbdServerOptions options, Adapter& adapter) {
    nbd::ServerConfig cfg;
    cfg.listen.push_back(nbd::ListenConfig{options.address, options.port});
    cfg.event_loops = options.event_loops;
    cfg.tls = to_tls(options.tls);
    // cfg.access stays without rules: NBD has no login, so every client reaches every export.
    std::string error;
    const auto exports = options.exports.empty() ? every_lun(adapter) : options.exports;
    if (!export_configs(exports, adapter, cfg.exports, error)) return {std::nullopt, error};
    auto server = nbd::Server::create(std::move(cfg), adapter, error);
    if (!server) return {std::nullopt, error};
    return {NbdServer(std::make_unique<Impl>(Impl{std::move(server)})), {}};
}

NbdServer::NbdServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NbdServer::NbdServer(NbdServer&&) noexcept = default;
NbdServer& NbdServer::operator=(NbdServer&& other) noexcept {
    if (this != &other) {
        stop();
        impl_ = std::move(other.impl_);
    }
    return *this;
}
NbdServer::~NbdServer() { stop(); }

void NbdServer::start() { impl_->server->start(); }
void NbdServer::stop() {
    if (impl_) impl_->server->stop();
}
std::uint16_t NbdServer::port() const { return impl_->server->bound_port(0); }

}  // namespace vstor
