// The base of the unit tests that run a live NBD server in process: it listens on 127.0.0.1 at an
// ephemeral port, is stopped after each test, and hands out raw clients already through the
// handshake. Each fixture adds its targets and LUNs to `adapter` and fills in the rest of the
// ServerConfig (exports, loops, TLS, budgets) itself.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "nbd/server.hpp"
#include "nbd_raw_client.hpp"

namespace vstor::nbd::test {

class LiveServerTest : public ::testing::Test {
protected:
    // Creates and starts the server from `cfg` plus a loopback listener; sets `port`.
    void start_server(ServerConfig cfg) {
        cfg.listen.push_back(ListenConfig{"127.0.0.1", 0});
        std::string err;
        server = Server::create(cfg, *adapter, err);
        ASSERT_TRUE(server) << err;
        server->start();
        port = server->bound_port(0);
    }
    // Also destroys the server, so that nothing it calls back into (a fixture's access rules)
    // can outlive the derived fixture's members.
    void TearDown() override {
        if (server) server->stop();
        server.reset();
    }

    // A client connected and through the handshake into transmission on export `name`.
    std::unique_ptr<RawClient> client(const std::string& name = "disk", bool structured = true, bool meta = false) {
        auto c = std::make_unique<RawClient>();
        EXPECT_TRUE(c->connect(port));
        EXPECT_TRUE(c->handshake(name, structured, meta));
        return c;
    }

    std::unique_ptr<Adapter> adapter = Adapter::create();
    std::unique_ptr<Server> server;
    std::uint16_t port = 0;
};

}  // namespace vstor::nbd::test
