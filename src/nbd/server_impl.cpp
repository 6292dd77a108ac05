#include "nbd/server_impl.hpp"

#include <spdlog/spdlog.h>

#include "util/tcp_listen.hpp"

#include <chrono>
#include <set>

#include "nbd/connection.hpp"
#include "nbd/protocol.hpp"

namespace vstor::nbd {

std::unique_ptr<Server> Server::create(ServerConfig config, Adapter& adapter, std::string& error) {
    if (config.listen.empty()) {
        error = "nbd: no address to listen on";
        return nullptr;
    }
    std::set<std::string> names;
    for (const auto& e : config.exports) {
        if (e.name.size() > kMaxStringLength) {
            error = "nbd: export name longer than 4096 bytes";
            return nullptr;
        }
        if (!names.insert(e.name).second) {
            error = "nbd: export name '" + e.name + "' used twice";
            return nullptr;
        }
    }
    auto s = std::make_unique<ServerImpl>(std::move(config), adapter);
    if (!s->init_tls(error) || !s->bind(error)) return nullptr;
    return s;
}

bool ServerImpl::init_tls(std::string& error) {
    if (config_.tls.mode == TlsConfig::Mode::off) return true;
    tls_ = TlsCredentials::create(config_.tls, error);
    if (!tls_) return false;
    tls_policy_ = config_.tls.mode == TlsConfig::Mode::require ? TlsPolicy::required : TlsPolicy::offered;
    return true;
}

ServerImpl::ServerImpl(ServerConfig config, Adapter& adapter)
    : config_(std::move(config)),
      adapter_(adapter),
      access_(config_.access),
      loops_(config_.event_loops),
      write_budget_(config_.write_budget ? config_.write_budget
                                         : util::WriteBudget::create(util::WriteBudget::kDefaultPerSession,
                                                                     util::WriteBudget::kDefaultTotal)) {
    if (config_.follow_luns) lun_events_ = adapter_.subscribe_lun_events([this](const LunEvent& e) { follow_lun(e); });
}

ServerImpl::~ServerImpl() { stop(); }

void ServerImpl::follow_lun(const LunEvent& e) {
    if (e.change == LunChange::added) {
        auto x = config_.follow_luns(e);
        if (!x) return;
        x->adapter_target_id = e.target_id;
        x->lun = e.lun;
        if (auto st = add_export(*x); !st)
            spdlog::warn("nbd: LUN {} of {} is not exported: {}", e.lun, e.target_name, st.error);
    } else if (e.change == LunChange::removed) {
        std::lock_guard lk(exports_mu_);
        std::erase_if(config_.exports,
                      [&](const ExportConfig& x) { return x.adapter_target_id == e.target_id && x.lun == e.lun; });
    }
}

bool ServerImpl::bind(std::string& error) {
    for (const auto& l : config_.listen) {
        auto acc = util::listen_tcp(loops_.first(), l.address, l.port, error);
        if (!acc) {
            error = "nbd: " + error;
            return false;
        }
        acceptors_.push_back(std::move(acc));
    }
    return true;
}

std::uint16_t ServerImpl::bound_port(std::size_t i) const {
    if (i >= acceptors_.size()) return 0;
    asio::error_code ec;
    return acceptors_[i]->local_endpoint(ec).port();
}

void ServerImpl::on_accept(util::ConnectionLimiter& limiter, asio::ip::tcp::socket sock) {
    asio::error_code ec;
    const auto peer = sock.remote_endpoint(ec);
    if (ec) return;  // reset before it was accepted
    auto slot = limiter.admit(peer.address());
    if (!slot) return;  // over a limit: closed at once (counted and logged by the limiter)
    sock.set_option(asio::ip::tcp::no_delay(true), ec);
    auto conn = std::make_shared<Connection>(std::move(sock), *this, next_conn_id_++);
    conn->hold(std::move(slot));
    conns_.add(conn);
    // stop() sets stopping_ before it takes its snapshot of the connections: one tracked after
    // that snapshot is seen here and never started (it closes as the last reference goes).
    if (stopping_) return;
    conn->start();
}

void ServerImpl::start() {
    if (started_) return;
    started_ = true;
    for (auto& a : acceptors_) {
        auto& limiter = *limiters_.emplace_back(std::make_unique<util::ConnectionLimiter>("nbd", config_.limits));
        accepting_.push_back(std::make_unique<util::AcceptLoop<asio::ip::tcp>>(
            *a, "nbd", [this, &limiter](asio::ip::tcp::socket sock) { on_accept(limiter, std::move(sock)); },
            [this] { return loops_.next().get_executor(); }));
        accepting_.back()->start();
    }
    loops_.start();
}

void ServerImpl::untrack(const Connection* c) { conns_.remove(c); }

void ServerImpl::stop() {
    lun_events_.reset();  // returns once no export change from the bus is under way
    if (stopping_.exchange(true)) return;
    for (auto& a : accepting_) a->stop();
    auto conns = conns_.snapshot();
    // proto.md: wait for in-flight requests before the hard disconnect; new ones get ESHUTDOWN.
    for (auto& c : conns) c->shutdown_async();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    if (started_) {
        while (std::chrono::steady_clock::now() < deadline) {
            bool busy = false;
            for (auto& c : conns) busy = busy || !c->finished();
            if (!busy) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    for (auto& c : conns) c->close_async("server shutting down");
    conns.clear();
    // Completions still inside the engine must be posted while the loops run.
    const auto engine_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (in_engine_.load() > 0 && std::chrono::steady_clock::now() < engine_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    loops_.join();
}

Status ServerImpl::add_export(ExportConfig e) {
    if (e.name.size() > kMaxStringLength) return error_status("export name longer than 4096 bytes");
    std::lock_guard lk(exports_mu_);
    for (const auto& x : config_.exports)
        if (x.name == e.name) return error_status("export '" + e.name + "' exists");
    config_.exports.push_back(std::move(e));
    return ok_status();
}

Status ServerImpl::remove_export(const std::string& name) {
    std::lock_guard lk(exports_mu_);
    const auto n = std::erase_if(config_.exports, [&](const ExportConfig& x) { return x.name == name; });
    if (!n) return error_status("no export '" + name + "'");
    return ok_status();
}

std::size_t ServerImpl::recheck_access() {
    std::lock_guard lk(access_mu_);
    std::size_t closed = 0;
    for (const auto& c : conns_.snapshot()) {
        const auto* s = c->serving();
        if (!s) continue;
        const auto d = access_.decide(s->initiator, s->target_id, s->lun);
        if (d.allowed) continue;
        spdlog::info("nbd {}: access revoked: {}", s->peer, d.why);
        c->close_async("access revoked: " + d.why);
        ++closed;
    }
    return closed;
}

std::vector<ExportConfig> ServerImpl::exports() const {
    std::lock_guard lk(exports_mu_);
    return config_.exports;
}

std::optional<ExportInfo> ServerImpl::describe(const ExportConfig& e, const std::vector<TargetInfo>& targets) const {
    for (const auto& t : targets) {
        if (t.id != e.adapter_target_id) continue;
        for (const auto& l : t.luns) {
            if (l.lun != e.lun) continue;
            ExportInfo info;
            info.name = e.name;
            info.description = e.description.empty()
                                   ? t.name + " LUN " + std::to_string(l.lun) + " (" + l.backend_kind + ")"
                                   : e.description;
            info.target_id = t.id;
            info.lun = l.lun;
            info.block_size = l.block_size;
            info.size_bytes = l.block_count * l.block_size;
            info.read_only = l.read_only;
            info.thin = l.thin;
            return info;
        }
    }
    return std::nullopt;  // the LUN is gone (hot removed)
}

std::optional<ExportInfo> ServerImpl::lookup(std::string_view name) const {
    ExportConfig chosen;
    {
        std::lock_guard lk(exports_mu_);
        const ExportConfig* found = nullptr;
        for (const auto& e : config_.exports)
            if (e.name == name) found = &e;
        if (!found && name.empty() && !config_.exports.empty()) found = &config_.exports.front();
        if (!found) return std::nullopt;
        chosen = *found;
    }
    return describe(chosen, adapter_.targets());
}

std::vector<ExportInfo> ServerImpl::list() const {
    const auto all = exports();
    const auto targets = adapter_.targets();
    std::vector<ExportInfo> out;
    for (const auto& e : all)
        if (auto info = describe(e, targets)) out.push_back(std::move(*info));
    return out;
}

}  // namespace vstor::nbd
