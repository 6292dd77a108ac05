// Session and connection reinstatement seen from the wire (RFC 7143 6.3.5): a leading login with
// an ISID that already has a session closes the old session's connection; a login naming an
// unknown TSIH, or one of another ISID, is refused with 0x020a; MC/S joins stop at MaxConnections
// (0x0206); a join with the CID of a live connection replaces that connection.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "live_server.hpp"
#include "raw_initiator.hpp"

namespace vstor::iscsi {
namespace {

using namespace std::chrono_literals;
using test::login_status;
using test::login_tsih;
using test::LiveServerTest;
using test::RawInitiator;
using Keys = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kReinstateIqn = "iqn.2026-12.org.vstor:reinstate";


class SessionReinstatement : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        const auto tid = add_target(cfg, kReinstateIqn);
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(1u << 20)));
        cfg.event_loops = 2;
        start_server(cfg);
    }

    // Logs in; `status` is the login response's status (0xffff when none came).
    std::unique_ptr<RawInitiator> login(std::uint8_t isid, std::uint16_t tsih, std::uint16_t cid, const Keys& keys,
                                        std::uint16_t& status, std::uint16_t* got_tsih = nullptr) {
        auto ini = std::make_unique<RawInitiator>(port);
        auto r = ini->login(kReinstateIqn, keys, isid, tsih, cid);
        status = r && r->opcode() == op::login_response ? login_status(*r) : 0xffff;
        if (got_tsih && r) *got_tsih = login_tsih(*r);
        return ini;
    }
};

TEST_F(SessionReinstatement, SameIsidClosesTheOldSession) {
    std::uint16_t status = 0, first = 0, second = 0;
    auto a = login(1, 0, 0, {}, status, &first);
    ASSERT_EQ(status, 0);
    auto b = login(1, 0, 0, {}, status, &second);
    ASSERT_EQ(status, 0);
    EXPECT_NE(first, second) << "a reinstated session gets a new TSIH";
    EXPECT_TRUE(a->closed_within(3000ms)) << "the reinstated session's connection stays open";
    EXPECT_FALSE(b->closed_within(200ms));
}

TEST_F(SessionReinstatement, OtherIsidKeepsBothSessions) {
    std::uint16_t status = 0;
    auto a = login(1, 0, 0, {}, status);
    ASSERT_EQ(status, 0);
    auto b = login(2, 0, 0, {}, status);
    ASSERT_EQ(status, 0);
    EXPECT_FALSE(a->closed_within(300ms));
    EXPECT_FALSE(b->closed_within(100ms));
}

TEST_F(SessionReinstatement, UnknownTsihIsRefused) {
    std::uint16_t status = 0, tsih = 0;
    auto a = login(1, 0, 0, {}, status, &tsih);
    ASSERT_EQ(status, 0);
    auto b = login(1, static_cast<std::uint16_t>(tsih + 100), 1, {}, status);
    EXPECT_EQ(status, 0x020a) << "session does not exist";
    EXPECT_TRUE(b->closed_within(3000ms));
    auto c = login(2, tsih, 1, {}, status);
    EXPECT_EQ(status, 0x020a) << "the TSIH of another ISID's session";
    EXPECT_FALSE(a->closed_within(100ms)) << "a refused join must not touch the session";
}

TEST_F(SessionReinstatement, JoinStopsAtMaxConnections) {
    std::uint16_t status = 0, tsih = 0;
    auto a = login(1, 0, 0, {}, status, &tsih);  // MaxConnections not offered: 1
    ASSERT_EQ(status, 0);
    auto b = login(1, tsih, 1, {}, status);
    EXPECT_EQ(status, 0x0206) << "too many connections";
    // Even a login that would replace the one connection is refused while the session is full.
    auto c = login(1, tsih, 0, {}, status);
    EXPECT_EQ(status, 0x0206);
    EXPECT_FALSE(a->closed_within(100ms));
}

TEST_F(SessionReinstatement, JoinWithALiveCidReplacesThatConnection) {
    const Keys keys = {{"MaxConnections", "3"}};
    std::uint16_t status = 0, tsih = 0, joined = 0;
    auto a = login(1, 0, 0, keys, status, &tsih);
    ASSERT_EQ(status, 0);
    auto b = login(1, tsih, 1, keys, status, &joined);
    ASSERT_EQ(status, 0);
    EXPECT_EQ(joined, tsih);
    auto c = login(1, tsih, 1, keys, status, &joined);
    ASSERT_EQ(status, 0);
    EXPECT_EQ(joined, tsih);
    EXPECT_TRUE(b->closed_within(3000ms)) << "the connection with the same CID stays open";
    EXPECT_FALSE(a->closed_within(200ms)) << "the other connection must stay";
}

}  // namespace
}  // namespace vstor::iscsi
