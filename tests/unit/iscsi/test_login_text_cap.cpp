// Login text collected over PDUs with the C (continue) bit is capped at kMaxRequestText, like a
// Text request: the PDU that would pass the cap gets a Login Response with status class 2
// (initiator error) and the login fails, instead of the target buffering without end.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "iscsi/login.hpp"
#include "util/endian.hpp"

namespace vstor::iscsi {
namespace {

Pdu text_login_pdu(bool cont, std::size_t text_bytes) {
    Pdu p;
    p.bhs[0] = op::login_request | 0x40;  // immediate
    p.bhs[1] = static_cast<std::uint8_t>((cont ? 0x40 : 0x80) | 0x01);  // CSG 0; T+NSG 1 when final
    p.bhs[8] = 0x80;                                                    // ISID type: random
    util::store_be32(&p.bhs[16], 1);
    // A valid key repeated would be refused anyway: pad with one long value split over PDUs.
    p.data.assign(text_bytes, 'x');
    return p;
}

struct LoginTextCap : ::testing::Test {
    ServerConfig config;
    std::shared_ptr<const TargetList> targets = std::make_shared<const TargetList>();
    Login login{config, targets, 1};
};

TEST_F(LoginTextCap, ContinuedPdusUpToTheCapAreAcknowledged) {
    const std::size_t piece = 8192;
    for (std::size_t sent = 0; sent + piece <= kMaxRequestText; sent += piece) {
        const auto step = login.on_pdu(text_login_pdu(true, piece));
        ASSERT_EQ(step.outcome, Login::Outcome::respond) << "after " << sent << " bytes";
        EXPECT_EQ(util::load_be16(&step.response.bhs[36]), login_status::success);
        EXPECT_TRUE(step.response.data.empty());
    }
}

TEST_F(LoginTextCap, ThePduPastTheCapIsRejectedWithAnInitiatorError) {
    const std::size_t piece = 8192;
    std::size_t sent = 0;
    for (; sent + piece <= kMaxRequestText; sent += piece) ASSERT_EQ(login.on_pdu(text_login_pdu(true, piece)).outcome, Login::Outcome::respond);
    const auto step = login.on_pdu(text_login_pdu(true, piece));
    ASSERT_EQ(step.outcome, Login::Outcome::fail);
    EXPECT_EQ(step.response.opcode(), op::login_response);
    EXPECT_EQ(util::load_be16(&step.response.bhs[36]), login_status::initiator_error);
    EXPECT_EQ(step.response.bhs[36], 2) << "status class 2: initiator error";
    EXPECT_NE(login.failure_reason().find("65536"), std::string::npos) << login.failure_reason();
}

TEST_F(LoginTextCap, OneFinalPduPastTheCapIsRejectedToo) {
    ASSERT_EQ(login.on_pdu(text_login_pdu(true, kMaxRequestText - 100)).outcome, Login::Outcome::respond);
    const auto step = login.on_pdu(text_login_pdu(false, 200));
    ASSERT_EQ(step.outcome, Login::Outcome::fail);
    EXPECT_EQ(util::load_be16(&step.response.bhs[36]), login_status::initiator_error);
}

TEST_F(LoginTextCap, TextUnderTheCapStillLogsIn) {
    Pdu p = text_login_pdu(false, 0);
    const std::string text = std::string("InitiatorName=iqn.2026-12.org.test:init") + '\0' + "SessionType=Discovery" + '\0' +
                             "AuthMethod=None" + '\0';
    p.data.assign(text.begin(), text.end());
    const auto step = login.on_pdu(p);
    EXPECT_EQ(step.outcome, Login::Outcome::respond);
    EXPECT_EQ(util::load_be16(&step.response.bhs[36]), login_status::success);
}

}  // namespace
}  // namespace vstor::iscsi
