// The iSCSI server: event loops, portals (acceptors), the session registry.
#pragma once

#include <asio.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "iscsi/server.hpp"
#include "iscsi/session.hpp"
#include "util/thread_pool.hpp"

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

    const ServerConfig& config() const { return config_; }
    Adapter& adapter() { return adapter_; }
    SessionRegistry& sessions() { return sessions_; }
    util::ThreadPool& slow_pool() { return slow_pool_; }  // task management, which may wait
    bool stopping() const { return stopping_.load(); }

    void track(const std::shared_ptr<Connection>& c);
    void untrack(const Connection* c);

private:
    struct Portal {
        PortalConfig config;
        std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
    };
    void accept(Portal& portal);
    asio::io_context& next_loop();

    ServerConfig config_;
    Adapter& adapter_;
    SessionRegistry sessions_;
    std::vector<std::unique_ptr<asio::io_context>> loops_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
    std::vector<std::thread> threads_;
    std::vector<Portal> portals_;
    std::atomic<std::size_t> next_loop_{0};
    std::atomic<bool> stopping_{false};
    bool started_ = false;
    std::mutex conns_mu_;  // guards conns_
    std::vector<std::weak_ptr<Connection>> conns_;
    util::ThreadPool slow_pool_{2};
};

}  // namespace vstor::iscsi
