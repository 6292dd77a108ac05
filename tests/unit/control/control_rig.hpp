// The base of the control-plane unit tests: an Adapter with one target and its LUN 0 (from a LUN
// spec, as `serve` builds it), the iSCSI server that holds the target, the serve plan describing
// both, and the ControlService over them. The server listens on a loopback portal at an ephemeral
// port when a test needs an initiator, and otherwise keeps only the target registry.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config/lun_builder.hpp"
#include "config/serve_plan.hpp"
#include "control/control_service.hpp"
#include "control/rpc_server.hpp"
#include "iscsi/server.hpp"

namespace vstor::control::test {

using nlohmann::json;

class ControlRig : public ::testing::Test {
protected:
    enum class Portal { none, loopback };

    // Target `iqn` with LUN 0 from `lun_spec` (or served by `backend`, the spec then only what the
    // plan says), and LUNs 1, 2, ... served by `more` (the plan says `lun_spec` for them too); with
    // Portal::loopback the server is started and `port` is its port.
    void start(const std::string& iqn, const std::string& lun_spec, Portal portal,
               std::shared_ptr<Backend> backend = nullptr, std::vector<std::shared_ptr<Backend>> more = {}) {
        std::string err;
        auto spec = cli::parse_lun_spec(lun_spec, err);
        ASSERT_TRUE(spec) << err;
        spec->lun = 0;
        cli::ServePlan plan;
        if (portal == Portal::loopback) plan.portals.push_back(iscsi::PortalConfig{"127.0.0.1", 0, 1});
        cli::TargetPlan tp;
        tp.config.name = iqn;
        tid = *adapter->add_target(iqn).value;
        tp.config.adapter_target_id = tid;
        tp.luns.push_back(*spec);
        plan.targets.push_back(tp);
        if (backend) ASSERT_TRUE(adapter->add_lun(tid, 0, std::move(backend)));
        else ASSERT_TRUE(cli::add_lun_from_spec(*adapter, tid, 0, *spec, err)) << err;
        for (std::uint16_t i = 1; i <= more.size(); ++i) {
            ASSERT_TRUE(adapter->add_lun(tid, i, std::move(more[i - 1])));
            plan.targets.back().luns.push_back(*spec);
            plan.targets.back().luns.back().lun = i;
        }
        iscsi::ServerConfig cfg;
        cfg.portals = plan.portals;
        cfg.portals_optional = portal == Portal::none;
        cfg.targets.push_back(tp.config);
        cfg.event_loops = 1;
        server = iscsi::Server::create(cfg, *adapter, err);
        ASSERT_TRUE(server) << err;
        if (portal == Portal::loopback) {
            server->start();
            port = server->bound_port(0);
        }
        service = std::make_unique<ControlService>(*adapter, *server, plan, "");
    }
    void TearDown() override {
        if (server) server->stop();
    }

    json call(const std::string& method, json params = json::object()) { return service->call(method, params); }

    // The error a call ends with, as {code, message}; {0, ""} when it succeeds.
    std::pair<int, std::string> error_of(const std::string& method, const json& params) {
        try {
            service->call(method, params);
        } catch (const RpcError& e) {
            return {e.code, e.what()};
        }
        return {0, ""};
    }

    std::unique_ptr<Adapter> adapter = Adapter::create();
    std::unique_ptr<iscsi::Server> server;
    std::unique_ptr<ControlService> service;
    std::uint16_t tid = 0;
    std::uint16_t port = 0;
};

}  // namespace vstor::control::test
