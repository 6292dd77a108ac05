// vstor::IscsiServer (include/vstor/iscsi_server.hpp): the public face of iscsi::Server. It turns
// the few options a program needs into the server's full config and hides the rest.
#include "vstor/iscsi_server.hpp"

#include "iscsi/server.hpp"

namespace vstor {

struct IscsiServer::Impl {
    std::unique_ptr<iscsi::Server> server;
};

namespace {

iscsi::ChapCredentials to_chap(const IscsiChap& c) {
    return {c.user, c.secret, c.mutual_user, c.mutual_secret};
}

// The server's targets: the ones asked for, or every target of the Adapter under its own name.
bool target_configs(const IscsiServerOptions& o, const Adapter& adapter, std::vector<iscsi::TargetConfig>& out,
                    std::string& error) {
    if (o.targets.empty()) {
        for (const auto& t : adapter.targets()) out.push_back(iscsi::TargetConfig{t.name, {}, t.id, {}, {}, {}});
        if (out.empty()) error = "the Adapter has no target to serve (Adapter::add_target first)";
        return !out.empty();
    }
    for (const auto& t : o.targets) {
        const auto id = t.adapter_target ? t.adapter_target : adapter.find_target(t.name);
        if (!id) {
            error = "iSCSI target " + t.name + ": the Adapter has no target of that name";
            return false;
        }
        out.push_back(iscsi::TargetConfig{t.name, {}, *id, to_chap(t.chap), t.allowed_initiators, {}});
    }
    return true;
}

}  // namespace

Result<IscsiServer> IscsiServer::create(IscsiServerOptions options, Adapter& adapter) {
    iscsi::ServerConfig cfg;
    cfg.portals.push_back(iscsi::PortalConfig{options.address, options.port, 1});
    cfg.discovery_chap = to_chap(options.discovery_chap);
    cfg.event_loops = options.event_loops;
    std::string error;
    if (!target_configs(options, adapter, cfg.targets, error)) return {std::nullopt, error};
    auto server = iscsi::Server::create(std::move(cfg), adapter, error);
    if (!server) return {std::nullopt, error};
    return {IscsiServer(std::make_unique<Impl>(Impl{std::move(server)})), {}};
}

IscsiServer::IscsiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
IscsiServer::IscsiServer(IscsiServer&&) noexcept = default;
IscsiServer& IscsiServer::operator=(IscsiServer&& other) noexcept {
    if (this != &other) {
        stop();
        impl_ = std::move(other.impl_);
    }
    return *this;
}
IscsiServer::~IscsiServer() { stop(); }

void IscsiServer::start() { impl_->server->start(); }
void IscsiServer::stop() {
    if (impl_) impl_->server->stop();
}
std::uint16_t IscsiServer::port() const { return impl_->server->bound_port(0); }

}  // namespace vstor
