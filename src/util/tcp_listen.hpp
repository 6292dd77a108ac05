// Opening a listening TCP socket, as every front end does it: address parsed, SO_REUSEADDR,
// bound, listening; one error line naming the address on failure.
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace vstor::util {

inline std::unique_ptr<asio::ip::tcp::acceptor> listen_tcp(asio::io_context& io, const std::string& host,
                                                           std::uint16_t port, std::string& error) {
    asio::error_code ec;
    const auto addr = asio::ip::make_address(host, ec);
    if (ec) {
        error = "bad listen address '" + host + "'";
        return nullptr;
    }
    auto acc = std::make_unique<asio::ip::tcp::acceptor>(io);
    const asio::ip::tcp::endpoint ep(addr, port);
    acc->open(ep.protocol(), ec);
#ifdef _WIN32
    // Windows' SO_REUSEADDR would let a second server take a port in use; SO_EXCLUSIVEADDRUSE keeps
    // it off (best effort), and Windows needs nothing to listen again over TIME_WAIT connections.
    if (!ec) {
        asio::error_code ignored;
        acc->set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_EXCLUSIVEADDRUSE>(true), ignored);
    }
#else
    if (!ec) acc->set_option(asio::socket_base::reuse_address(true), ec);
#endif
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
        error = "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message();
        return nullptr;
    }
    return acc;
}

}  // namespace vstor::util
