#include "iscsi/server_impl.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "iscsi/connection.hpp"

namespace vstor::iscsi {

std::unique_ptr<Server> Server::create(ServerConfig config, Adapter& adapter, std::string& error) {
    if (config.portals.empty()) {
        error = "no portal to listen on";
        return nullptr;
    }
    for (const auto& t : config.targets) {
        if (t.name.empty()) {
            error = "target with an empty name";
            return nullptr;
        }
        if (!t.chap.secret.empty() && t.chap.secret.size() < 12) {
            error = "CHAP secret for " + t.name + " must be at least 12 characters (RFC 7143 12.1.3)";
            return nullptr;
        }
    }
    auto s = std::make_unique<ServerImpl>(std::move(config), adapter);
    if (!s->bind(error)) return nullptr;
    return s;
}

ServerImpl::ServerImpl(ServerConfig config, Adapter& adapter) : config_(std::move(config)), adapter_(adapter) {
    unsigned n = config_.event_loops ? config_.event_loops : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) {
        loops_.push_back(std::make_unique<asio::io_context>(1));
        guards_.push_back(asio::make_work_guard(*loops_.back()));
    }
}

ServerImpl::~ServerImpl() { stop(); }

bool ServerImpl::bind(std::string& error) {
    for (const auto& pc : config_.portals) {
        asio::error_code ec;
        const auto addr = asio::ip::make_address(pc.address, ec);
        if (ec) {
            error = "bad listen address '" + pc.address + "'";
            return false;
        }
        auto acc = std::make_unique<asio::ip::tcp::acceptor>(*loops_[0]);
        const asio::ip::tcp::endpoint ep(addr, pc.port);
        acc->open(ep.protocol(), ec);
        if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acc->bind(ep, ec);
        if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
        if (ec) {
            error = "cannot listen on " + pc.address + ":" + std::to_string(pc.port) + ": " + ec.message();
            return false;
        }
        portals_.push_back(Portal{pc, std::move(acc)});
    }
    return true;
}

std::uint16_t ServerImpl::bound_port(std::size_t i) const {
    if (i >= portals_.size()) return 0;
    asio::error_code ec;
    return portals_[i].acceptor->local_endpoint(ec).port();
}

asio::io_context& ServerImpl::next_loop() { return *loops_[next_loop_++ % loops_.size()]; }

void ServerImpl::accept(Portal& portal) {
    portal.acceptor->async_accept(next_loop(), [this, &portal](std::error_code ec, asio::ip::tcp::socket sock) {
        if (ec) {
            if (ec != asio::error::operation_aborted && !stopping_) {
                spdlog::warn("iscsi: accept failed: {}", ec.message());
                accept(portal);
            }
            return;
        }
        if (stopping_) return;
        sock.set_option(asio::ip::tcp::no_delay(true), ec);
        auto conn = std::make_shared<Connection>(std::move(sock), *this, portal.config);
        track(conn);
        conn->start();
        accept(portal);
    });
}

void ServerImpl::start() {
    if (started_) return;
    started_ = true;
    for (auto& p : portals_) accept(p);
    for (auto& loop : loops_) threads_.emplace_back([l = loop.get()] { l->run(); });
}

void ServerImpl::track(const std::shared_ptr<Connection>& c) {
    std::lock_guard lk(conns_mu_);
    std::erase_if(conns_, [](const auto& w) { return w.expired(); });
    conns_.push_back(c);
}

void ServerImpl::untrack(const Connection* c) {
    std::lock_guard lk(conns_mu_);
    std::erase_if(conns_, [c](const auto& w) {
        auto s = w.lock();
        return !s || s.get() == c;
    });
}

void ServerImpl::stop() {
    if (stopping_.exchange(true)) return;
    for (auto& p : portals_) {
        asio::post(*loops_[0], [acc = p.acceptor.get()] {
            asio::error_code ec;
            acc->close(ec);
        });
    }
    std::vector<std::shared_ptr<Connection>> conns;
    {
        std::lock_guard lk(conns_mu_);
        for (auto& w : conns_)
            if (auto c = w.lock()) conns.push_back(std::move(c));
    }
    // Ask initiators to log out, give them a moment, then close what is left.
    for (auto& c : conns) c->request_logout_async();
    if (!conns.empty() && started_) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    for (auto& c : conns) c->close_async("target shutting down");
    conns.clear();
    guards_.clear();
    if (started_) {
        // Let the loops finish their queued work (closing sockets, completions), then join.
        for (auto& t : threads_) t.join();
    }
    threads_.clear();
}

}  // namespace vstor::iscsi
