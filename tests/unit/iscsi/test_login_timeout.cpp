// A connection that has not completed login within ServerConfig::login_timeout_s is closed,
// whether it sent nothing or stopped half way; a logged-in connection is not affected.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "live_server.hpp"
#include "raw_initiator.hpp"

namespace vstor::iscsi {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using test::LiveServerTest;
using test::RawInitiator;

class LoginTimeout : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        add_target(cfg, "iqn.2026-12.org.vstor:timeout");
        cfg.event_loops = 1;
        cfg.login_timeout_s = 1;
        start_server(cfg);
    }
};

TEST_F(LoginTimeout, SilentConnectionIsClosed) {
    RawInitiator c(port);
    ASSERT_TRUE(c.connected());
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(c.closed_within(4s)) << "a connection that never logged in is still open";
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms) << "closed before the timeout";
}

TEST_F(LoginTimeout, HalfDoneLoginIsClosed) {
    RawInitiator c(port);
    // Security stage answered, then the initiator goes quiet.
    ASSERT_TRUE(c.send_login("InitiatorName=iqn.2026-12.org.test:slow\0SessionType=Discovery\0AuthMethod=None\0"s, 0, 1,
                             false));
    const auto r = c.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(test::login_status(*r), 0);
    EXPECT_TRUE(c.closed_within(4s)) << "a half-done login is still open";
}

TEST_F(LoginTimeout, LoggedInConnectionStaysOpen) {
    RawInitiator c(port);
    ASSERT_TRUE(c.send_login("InitiatorName=iqn.2026-12.org.test:quick\0SessionType=Discovery\0"
                             "HeaderDigest=None\0DataDigest=None\0"s,
                             1, 3, true));
    const auto r = c.next();
    ASSERT_TRUE(r);
    ASSERT_EQ(test::login_status(*r), 0);
    ASSERT_TRUE(r->bhs[1] & 0x80) << "login did not reach full feature phase";
    EXPECT_FALSE(c.closed_within(2500ms)) << "a logged-in connection was closed by the login timeout";
}

TEST(LoginTimeoutConfig, OutOfRangeIsRefused) {
    auto adapter = Adapter::create();
    for (std::uint32_t s : {0u, kMaxLoginTimeout + 1}) {
        ServerConfig cfg;
        cfg.portals.push_back(PortalConfig{"127.0.0.1", 0, 1});
        cfg.login_timeout_s = s;
        std::string err;
        EXPECT_FALSE(Server::create(cfg, *adapter, err)) << s;
        EXPECT_NE(err.find("login timeout"), std::string::npos) << err;
    }
}

}  // namespace
}  // namespace vstor::iscsi
