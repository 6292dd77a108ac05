// The iSCSI server: event loops, portals (acceptors), the session registry.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "iscsi/auth_throttle.hpp"
#include "iscsi/server.hpp"
#include "iscsi/session.hpp"
#include "iscsi/session_registry.hpp"
#include "util/accept_loop.hpp"
#include "util/connection_limiter.hpp"
#include "util/connection_registry.hpp"
#include "util/event_loops.hpp"
#include "util/rate_limiter.hpp"

namespace vstor::iscsi {

class Connection;

class ServerImpl final : public Server {
public:
    ServerImpl(ServerConfig config, Adapter& adapter);
    ~ServerImpl() override;

    bool bind(std::string& error);
    void start() override;
    void stop() override;
    std::uint16_t bound_port(std::size_t portal_index) const override;
    Status add_target(TargetConfig target) override;
    Status update_target(TargetConfig target) override;
    Status remove_target(const std::string& name) override;
    std::vector<TargetConfig> target_configs() const override;
    Status set_discovery_chap(ChapCredentials chap) override;
    ChapCredentials discovery_chap() const override;
    std::vector<SessionInfo> sessions() const override;
    LoginStats login_stats() const override;
    std::size_t close_sessions(const std::string& target, const std::string& initiator) override;

    // The current targets: a snapshot that stays valid (and unchanged) while it is held.
    std::shared_ptr<const TargetList> targets() const;

    const ServerConfig& config() const { return config_; }
    Adapter& adapter() { return adapter_; }
    SessionRegistry& sessions() { return sessions_; }
    const std::shared_ptr<util::WriteBudget>& write_budget() const { return write_budget_; }
    bool stopping() const { return stopping_.load(); }

    // Counts, logs (rate-limited) and throttles the outcome of a CHAP response from `address` as
    // `initiator`; returns how long the connection holds its answer (AuthThrottle).
    std::chrono::milliseconds on_chap_check(bool passed, const std::string& address, const std::string& initiator,
                                            const std::string& peer, const std::string& why);
    void count_login_timeout() { login_timeouts_.fetch_add(1, std::memory_order_relaxed); }

    void track(const std::shared_ptr<Connection>& c);
    void untrack(const Connection* c);

private:
    struct Portal {
        PortalConfig config;
        std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
        std::unique_ptr<util::ConnectionLimiter> limiter;
        std::unique_ptr<util::AcceptLoop<asio::ip::tcp>> accepting;  // from start()
    };
    void on_accept(const Portal& portal, asio::ip::tcp::socket sock);
    // Tell every session of the target that its LUN inventory or a LUN changed.
    void on_lun_event(const LunEvent& e);

    ServerConfig config_;
    Adapter& adapter_;
    SessionRegistry sessions_;
    util::EventLoops loops_;
    std::vector<Portal> portals_;
    std::atomic<bool> stopping_{false};
    bool started_ = false;
    util::ConnectionRegistry<Connection> conns_;
    AuthThrottle auth_throttle_;
    util::RateLimiter chap_warnings_{std::chrono::seconds(10), 5};
    std::atomic<std::uint64_t> chap_failures_{0};
    std::atomic<std::uint64_t> login_timeouts_{0};
    std::shared_ptr<util::WriteBudget> write_budget_;
    mutable std::mutex targets_mu_;  // guards targets_ (the pointer; the list is immutable) and discovery_chap_
    std::shared_ptr<const TargetList> targets_;
    ChapCredentials discovery_chap_;
    LunSubscription lun_events_;  // ended first thing in the destructor
};

}  // namespace vstor::iscsi
