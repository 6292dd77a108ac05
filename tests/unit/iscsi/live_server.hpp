// The base of the unit tests that run a live iSCSI server in process: one portal on 127.0.0.1 at
// an ephemeral port, stopped after each test. Each fixture adds its targets (add_target), LUNs
// and the rest of the ServerConfig (loops, budgets, timeouts, masks) itself.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "iscsi/server.hpp"

namespace vstor::iscsi::test {

class LiveServerTest : public ::testing::Test {
protected:
    // Adds target `name` to the adapter and to `cfg`; returns its adapter id.
    std::uint16_t add_target(ServerConfig& cfg, const std::string& name) {
        TargetConfig t;
        t.name = name;
        t.adapter_target_id = *adapter->add_target(name).value;
        cfg.targets.push_back(t);
        return t.adapter_target_id;
    }
    // Creates and starts the server from `cfg` plus a loopback portal; sets `port`.
    void start_server(ServerConfig cfg) {
        cfg.portals.push_back(PortalConfig{"127.0.0.1", 0, 1});
        std::string err;
        server = Server::create(cfg, *adapter, err);
        ASSERT_TRUE(server) << err;
        server->start();
        port = server->bound_port(0);
    }
    void TearDown() override {
        if (server) server->stop();
        server.reset();
    }

    std::unique_ptr<Adapter> adapter = Adapter::create();
    std::unique_ptr<Server> server;
    std::uint16_t port = 0;
};

}  // namespace vstor::iscsi::test
