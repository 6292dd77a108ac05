// The public servers (vstor/iscsi_server.hpp, vstor/nbd_server.hpp): what create() refuses and
// why, the bound port, stop() twice, moves. Real clients drive them in tests/sdk/.
#include "vstor/iscsi_server.hpp"
#include "vstor/nbd_server.hpp"

#include <gtest/gtest.h>

#include "map_backend.hpp"

namespace vstor::test {
namespace {

class PublicServers : public ::testing::Test {
protected:
    void SetUp() override {
        target = *adapter->add_target("iqn.2026-12.org.example:public").value;
        ASSERT_TRUE(adapter->add_lun(target, 3, std::make_shared<example::MapBackend>(2048)));
    }
    std::unique_ptr<Adapter> adapter = Adapter::create();
    std::uint16_t target = 0;
};

TEST_F(PublicServers, IscsiServesEveryTargetOnAnyPort) {
    IscsiServerOptions o;
    o.port = 0;
    o.event_loops = 1;
    auto server = IscsiServer::create(o, *adapter);
    ASSERT_TRUE(server) << server.error;
    server.value->start();
    EXPECT_NE(server.value->port(), 0);
    server.value->stop();
    server.value->stop();  // idempotent
}

TEST_F(PublicServers, IscsiRefusesAnUnknownTargetAndABusyPort) {
    IscsiServerOptions o;
    o.port = 0;
    o.targets.push_back({"iqn.2026-12.org.example:nothere", std::nullopt, {}, {}});
    auto unknown = IscsiServer::create(o, *adapter);
    ASSERT_FALSE(unknown);
    EXPECT_NE(unknown.error.find("no target of that name"), std::string::npos) << unknown.error;

    o.targets = {{"iqn.2026-12.org.example:alias", target, {"alice", "a-long-secret", {}, {}}, {}}};
    auto first = IscsiServer::create(o, *adapter);
    ASSERT_TRUE(first) << first.error;
    o.port = first.value->port();
    auto second = IscsiServer::create(o, *adapter);
    ASSERT_FALSE(second);
    EXPECT_NE(second.error.find("cannot listen"), std::string::npos) << second.error;
}

TEST(PublicServersEmpty, IscsiNeedsATarget) {
    auto adapter = Adapter::create();
    auto server = IscsiServer::create({}, *adapter);
    ASSERT_FALSE(server);
    EXPECT_NE(server.error.find("no target to serve"), std::string::npos) << server.error;
}

TEST_F(PublicServers, NbdExportsEveryLunAndMoves) {
    NbdServerOptions o;
    o.port = 0;
    o.event_loops = 1;
    auto server = NbdServer::create(o, *adapter);
    ASSERT_TRUE(server) << server.error;
    NbdServer moved = std::move(*server.value);
    moved.start();
    EXPECT_NE(moved.port(), 0);
}

TEST_F(PublicServers, NbdRefusesMissingLunsAndDuplicateNames) {
    NbdServerOptions o;
    o.port = 0;
    o.exports = {{"disk", target, 0, {}}};
    auto missing = NbdServer::create(o, *adapter);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error.find("has no LUN 0"), std::string::npos) << missing.error;

    o.exports = {{"disk", target, 3, {}}, {"disk", target, 3, {}}};
    auto twice = NbdServer::create(o, *adapter);
    ASSERT_FALSE(twice);
    EXPECT_NE(twice.error.find("used twice"), std::string::npos) << twice.error;

    auto empty_adapter = Adapter::create();
    auto none = NbdServer::create({}, *empty_adapter);
    ASSERT_FALSE(none);
    EXPECT_NE(none.error.find("no LUN to export"), std::string::npos) << none.error;
}

}  // namespace
}  // namespace vstor::test
