// The NBD server: event loops, listeners, the export table (also the handshake's catalog) and
// the connection registry. Mirrors iscsi/server_impl.hpp: one io_context per loop thread, a
// connection lives on one loop.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "nbd/access.hpp"
#include "nbd/handshake.hpp"
#include "nbd/server.hpp"
#include "nbd/tls.hpp"
#include "util/accept_loop.hpp"
#include "util/connection_limiter.hpp"
#include "util/connection_registry.hpp"
#include "util/event_loops.hpp"

namespace vstor::nbd {

class Connection;

class ServerImpl final : public Server, public ExportCatalog {
public:
    ServerImpl(ServerConfig config, Adapter& adapter);
    ~ServerImpl() override;

    bool bind(std::string& error);
    void start() override;
    void stop() override;
    std::uint16_t bound_port(std::size_t i) const override;
    Status add_export(ExportConfig e) override;
    Status remove_export(const std::string& name) override;
    std::vector<ExportConfig> exports() const override;
    std::size_t recheck_access() override;

    // ExportCatalog (any thread).
    std::optional<ExportInfo> lookup(std::string_view name) const override;
    std::vector<ExportInfo> list() const override;

    Adapter& adapter() { return adapter_; }
    const AccessPolicy& access() const { return access_; }
    // Guards what connections publish when they start serving an export, so that
    // recheck_access() either sees a connection or the connection decides under the new rules.
    std::mutex& access_mutex() { return access_mu_; }
    unsigned handshake_timeout_s() const { return config_.handshake_timeout_s; }
    TlsPolicy tls_policy() const { return tls_policy_; }
    const TlsCredentials* tls_credentials() const { return tls_.get(); }
    bool init_tls(std::string& error);
    const std::shared_ptr<util::WriteBudget>& write_budget() const { return write_budget_; }
    std::uint16_t relative_port() const { return config_.relative_port; }
    bool stopping() const { return stopping_.load(); }
    // Engine commands submitted and not yet posted back to a loop: stop() waits for zero so
    // no completion is posted to a loop that has already returned.
    std::atomic<std::int64_t>& commands_in_engine() { return in_engine_; }

    void untrack(const Connection* c);

private:
    std::optional<ExportInfo> describe(const ExportConfig& e, const std::vector<TargetInfo>& targets) const;
    void on_accept(util::ConnectionLimiter& limiter, asio::ip::tcp::socket sock);
    void follow_lun(const LunEvent& e);  // ServerConfig::follow_luns

    ServerConfig config_;
    Adapter& adapter_;
    AccessPolicy access_;
    std::mutex access_mu_;
    TlsPolicy tls_policy_ = TlsPolicy::off;
    std::unique_ptr<TlsCredentials> tls_;
    mutable std::mutex exports_mu_;  // guards config_.exports
    util::EventLoops loops_;
    std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors_;
    std::vector<std::unique_ptr<util::ConnectionLimiter>> limiters_;  // one per acceptor
    std::vector<std::unique_ptr<util::AcceptLoop<asio::ip::tcp>>> accepting_;  // one per acceptor, from start()
    std::atomic<std::uint64_t> next_conn_id_{1};
    std::atomic<bool> stopping_{false};
    std::atomic<std::int64_t> in_engine_{0};
    bool started_ = false;
    util::ConnectionRegistry<Connection> conns_;
    std::shared_ptr<util::WriteBudget> write_budget_;
    LunSubscription lun_events_;  // while following the adapter's LUNs; ended by stop()
};

}  // namespace vstor::nbd
