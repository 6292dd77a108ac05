#include "iscsi/server_impl.hpp"

#include <spdlog/spdlog.h>

#include "util/tcp_listen.hpp"

#include <algorithm>
#include <chrono>

#include "iscsi/connection.hpp"
#include "vstor/lun_address.hpp"
#include "vstor/sense.hpp"

namespace vstor::iscsi {

namespace {
std::string validate_chap(const ChapCredentials& c, const std::string& of) {
    if (!c.secret.empty() && c.secret.size() < 12)
        return "CHAP secret for " + of + " must be at least 12 characters (RFC 7143 12.1.3)";
    if (!c.mutual_secret.empty() && c.mutual_secret.size() < 12)
        return "mutual CHAP secret for " + of + " must be at least 12 characters (RFC 7143 12.1.3)";
    if (!c.mutual_user.empty() && c.user.empty()) return "mutual CHAP for " + of + " needs CHAP as well";
    return {};
}

std::string validate_target(const TargetConfig& t) {
    if (t.name.empty()) return "target with an empty name";
    return validate_chap(t.chap, t.name);
}
}  // namespace

std::unique_ptr<Server> Server::create(ServerConfig config, Adapter& adapter, std::string& error) {
    if (config.login_timeout_s < 1 || config.login_timeout_s > kMaxLoginTimeout) {
        error = "login timeout must be 1.." + std::to_string(kMaxLoginTimeout) + " seconds";
        return nullptr;
    }
    if (config.busy_poll_us > kMaxBusyPollUs) {
        error = "busy poll must be 0.." + std::to_string(kMaxBusyPollUs) + " microseconds";
        return nullptr;
    }
    if (error = validate_chap(config.discovery_chap, "discovery"); !error.empty()) return nullptr;
    if (config.portals.empty() && !config.portals_optional) {
        error = "no portal to listen on";
        return nullptr;
    }
    for (const auto& t : config.targets) {
        if (error = validate_target(t); !error.empty()) return nullptr;
        if (std::count_if(config.targets.begin(), config.targets.end(),
                          [&](const TargetConfig& o) { return o.name == t.name; }) > 1) {
            error = "target " + t.name + " is configured twice";
            return nullptr;
        }
    }
    auto s = std::make_unique<ServerImpl>(std::move(config), adapter);
    if (!s->bind(error)) return nullptr;
    return s;
}

ServerImpl::ServerImpl(ServerConfig config, Adapter& adapter)
    : config_(std::move(config)), adapter_(adapter), loops_(config_.event_loops) {
    auto list = std::make_shared<TargetList>();
    for (const auto& t : config_.targets) list->push_back(std::make_shared<const TargetConfig>(t));
    targets_ = std::move(list);
    discovery_chap_ = config_.discovery_chap;
    write_budget_ = config_.write_budget ? config_.write_budget
                                         : util::WriteBudget::create(util::WriteBudget::kDefaultPerSession,
                                                                     util::WriteBudget::kDefaultTotal);
    lun_events_ = adapter_.subscribe_lun_events([this](const LunEvent& e) { on_lun_event(e); });
}

ServerImpl::~ServerImpl() {
    lun_events_.reset();  // returns once no callback into this server runs
    stop();
}

std::shared_ptr<const TargetList> ServerImpl::targets() const {
    std::lock_guard lk(targets_mu_);
    return targets_;
}

Status ServerImpl::add_target(TargetConfig target) {
    if (auto err = validate_target(target); !err.empty()) return error_status(err);
    std::lock_guard lk(targets_mu_);
    for (const auto& t : *targets_)
        if (t->name == target.name) return error_status("target " + target.name + " already exists");
    auto list = std::make_shared<TargetList>(*targets_);
    list->push_back(std::make_shared<const TargetConfig>(std::move(target)));
    targets_ = std::move(list);
    return ok_status();
}

Status ServerImpl::update_target(TargetConfig target) {
    if (auto err = validate_target(target); !err.empty()) return error_status(err);
    std::lock_guard lk(targets_mu_);
    auto list = std::make_shared<TargetList>(*targets_);
    for (auto& t : *list) {
        if (t->name != target.name) continue;
        t = std::make_shared<const TargetConfig>(std::move(target));
        targets_ = std::move(list);
        return ok_status();
    }
    return error_status("no target " + target.name);
}

Status ServerImpl::remove_target(const std::string& name) {
    {
        std::lock_guard lk(targets_mu_);
        auto list = std::make_shared<TargetList>(*targets_);
        if (std::erase_if(*list, [&](const TargetPtr& t) { return t->name == name; }) == 0)
            return error_status("no target " + name);
        targets_ = std::move(list);
    }
    for (const auto& s : sessions_.all())
        if (s->target() && s->target()->name == name)
            for (const auto& c : s->connections()) c->close_async("target " + name + " removed");
    return ok_status();
}

Status ServerImpl::set_discovery_chap(ChapCredentials chap) {
    if (auto err = validate_chap(chap, "discovery"); !err.empty()) return error_status(err);
    std::lock_guard lk(targets_mu_);
    discovery_chap_ = std::move(chap);
    return ok_status();
}

ChapCredentials ServerImpl::discovery_chap() const {
    std::lock_guard lk(targets_mu_);
    return discovery_chap_;
}

std::vector<TargetConfig> ServerImpl::target_configs() const {
    std::vector<TargetConfig> out;
    for (const auto& t : *targets()) out.push_back(*t);
    return out;
}

std::vector<SessionInfo> ServerImpl::sessions() const {
    std::vector<SessionInfo> out;
    for (const auto& s : sessions_.all()) {
        SessionInfo i;
        i.initiator = s->keys().initiator_name;
        i.isid = s->isid_hex();
        i.tsih = s->tsih();
        i.discovery = s->discovery();
        if (s->target()) i.target = s->target()->name;
        for (const auto& c : s->connections()) i.connections.push_back(c->peer());
        i.commands = s->stats.commands.load(std::memory_order_relaxed);
        i.bytes_in = s->stats.bytes_in.load(std::memory_order_relaxed);
        i.bytes_out = s->stats.bytes_out.load(std::memory_order_relaxed);
        i.errors = s->stats.errors.load(std::memory_order_relaxed);
        out.push_back(std::move(i));
    }
    return out;
}

LoginStats ServerImpl::login_stats() const {
    return LoginStats{chap_failures_.load(std::memory_order_relaxed), login_timeouts_.load(std::memory_order_relaxed)};
}

std::chrono::milliseconds ServerImpl::on_chap_check(bool passed, const std::string& address,
                                                    const std::string& initiator, const std::string& peer,
                                                    const std::string& why) {
    const auto now = AuthThrottle::Clock::now();
    const auto delay = auth_throttle_.delay(address, initiator, now);
    if (passed) {
        auth_throttle_.record_success(address, initiator);
        return delay;
    }
    chap_failures_.fetch_add(1, std::memory_order_relaxed);
    const unsigned failures = auth_throttle_.record_failure(address, initiator, now);
    if (std::uint64_t suppressed = 0; chap_warnings_.allow(&suppressed, now))
        spdlog::warn("iscsi {}: {} (initiator '{}'; failure {} from this address or initiator; answer delayed {} ms){}",
                     peer, why, initiator, failures, delay.count(),
                     suppressed ? fmt::format(" [{} more CHAP failure warnings suppressed]", suppressed) : "");
    return delay;
}

std::size_t ServerImpl::close_sessions(const std::string& target, const std::string& initiator) {
    std::size_t n = 0;
    for (const auto& s : sessions_.all()) {
        if (!s->target() || s->target()->name != target || s->keys().initiator_name != initiator) continue;
        for (const auto& c : s->connections()) c->close_async("access revoked for " + initiator);
        ++n;
    }
    return n;
}

void ServerImpl::on_lun_event(const LunEvent& e) {
    // RFC 7143 11.9.1 AsyncEvent 0: a SCSI asynchronous event, its sense data in the data
    // segment. The unit attention itself is also queued by the engine for the next command.
    // On the bus's thread: only posts to the connections' loops, never blocks.
    const auto target_id = e.target_id;
    const auto lun = e.lun;
    const auto sense = e.change == LunChange::resized ? scsi::sense::ua_capacity_changed()
                       : e.change == LunChange::medium_changed ? scsi::sense::ua_medium_may_have_changed()
                                                       : scsi::sense::ua_reported_luns_changed();
    std::vector<std::uint8_t> bytes(18);
    bytes.resize(scsi::encode_fixed(sense, bytes.data(), bytes.size()));
    for (const auto& s : sessions_.all()) {
        if (s->discovery() || !s->target() || s->target()->adapter_target_id != target_id) continue;
        if (!s->lun_visible(lun)) continue;
        const auto conns = s->connections();
        if (!conns.empty()) conns.front()->send_async_event_async(encode_sam_lun(lun), bytes);
    }
}

bool ServerImpl::bind(std::string& error) {
    for (const auto& pc : config_.portals) {
        auto acc = util::listen_tcp(loops_.first(), pc.address, pc.port, error);
        if (!acc) return false;
        portals_.push_back(
            Portal{pc, std::move(acc), std::make_unique<util::ConnectionLimiter>("iscsi", config_.limits), nullptr});
    }
    return true;
}

std::uint16_t ServerImpl::bound_port(std::size_t i) const {
    if (i >= portals_.size()) return 0;
    asio::error_code ec;
    return portals_[i].acceptor->local_endpoint(ec).port();
}

void ServerImpl::on_accept(const Portal& portal, asio::ip::tcp::socket sock) {
    asio::error_code ec;
    const auto peer = sock.remote_endpoint(ec);
    if (ec) return;  // reset before it was accepted
    auto slot = portal.limiter->admit(peer.address());
    if (!slot) return;  // over a limit: closed at once (counted and logged by the limiter)
    sock.set_option(asio::ip::tcp::no_delay(true), ec);
    auto conn = std::make_shared<Connection>(std::move(sock), *this, portal.config);
    conn->hold(std::move(slot));
    track(conn);
    // stop() sets stopping_ before it takes its snapshot of the connections: one tracked after
    // that snapshot is seen here and never started (it closes as the last reference goes).
    if (stopping_) return;
    conn->start();
}

void ServerImpl::start() {
    if (started_) return;
    started_ = true;
    for (auto& p : portals_) {
        p.accepting = std::make_unique<util::AcceptLoop<asio::ip::tcp>>(
            *p.acceptor, "iscsi", [this, &p](asio::ip::tcp::socket sock) { on_accept(p, std::move(sock)); },
            [this] { return loops_.next().get_executor(); });
        p.accepting->start();
    }
    loops_.start();
}

void ServerImpl::track(const std::shared_ptr<Connection>& c) { conns_.add(c); }

void ServerImpl::untrack(const Connection* c) { conns_.remove(c); }

void ServerImpl::stop() {
    if (stopping_.exchange(true)) return;
    for (auto& p : portals_)
        if (p.accepting) p.accepting->stop();
    auto conns = conns_.snapshot();
    // Ask initiators to log out, give them a moment, then close what is left.
    for (auto& c : conns) c->request_logout_async();
    if (!conns.empty() && started_) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (auto& c : conns) c->close_async("target shutting down");
    conns.clear();
    loops_.join();  // the loops finish their queued work (closing sockets, completions) first
}

}  // namespace vstor::iscsi
