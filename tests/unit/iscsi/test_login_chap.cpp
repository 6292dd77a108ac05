// The login state machine reports each CHAP response it checks (passed or failed), so that the
// connection can count, log and throttle failures; a wrong secret fails with 0x0201.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "iscsi/chap.hpp"
#include "iscsi/login.hpp"
#include "util/endian.hpp"

namespace vstor::iscsi {
namespace {

using namespace std::string_literals;

Pdu login_pdu(const std::string& text, bool transit) {
    Pdu p;
    p.bhs[0] = op::login_request | 0x40;
    p.bhs[1] = static_cast<std::uint8_t>(transit ? 0x81 : 0x00);  // CSG 0 (security), NSG 1 when T
    p.bhs[8] = 0x80;
    util::store_be32(&p.bhs[16], 1);
    p.data.assign(text.begin(), text.end());
    return p;
}

class LoginChap : public ::testing::Test {
protected:
    LoginChap() {
        auto list = std::make_shared<TargetList>();
        TargetConfig t;
        t.name = "iqn.2026-12.org.vstor:chap";
        t.chap = ChapCredentials{"user", "averylongsecret1", "", ""};
        list->push_back(std::make_shared<const TargetConfig>(t));
        targets = list;
    }

    // Runs the security stage up to the CHAP response made with `secret`; returns that step.
    Login::Step answer_with(Login& login, const std::string& start, const std::string& user, const std::string& secret) {
        auto s = login.on_pdu(login_pdu(start + "AuthMethod=CHAP\0"s, false));
        EXPECT_EQ(s.outcome, Login::Outcome::respond);
        EXPECT_EQ(s.chap, Login::ChapCheck::none);
        s = login.on_pdu(login_pdu("CHAP_A=5\0"s, false));
        EXPECT_EQ(s.chap, Login::ChapCheck::none);
        KeyValues kv;
        EXPECT_EQ(parse_text(s.response.data, kv), "");
        const auto id = std::stoi(*find_key(kv, "CHAP_I"));
        const auto challenge = *chap::decode_binary(*find_key(kv, "CHAP_C"));
        const auto r = chap::encode_hex(chap::response(static_cast<std::uint8_t>(id), secret, challenge));
        return login.on_pdu(login_pdu("CHAP_N=" + user + "\0CHAP_R="s + r + "\0"s, true));
    }

    const std::string normal = "InitiatorName=iqn.2026-12.org.test:i\0TargetName=iqn.2026-12.org.vstor:chap\0"s;
    ServerConfig config;
    std::shared_ptr<const TargetList> targets;
};

TEST_F(LoginChap, WrongSecretIsReportedAsAFailedCheck) {
    Login login(config, targets, 1);
    const auto s = answer_with(login, normal, "user", "not-the-secret-at-all");
    EXPECT_EQ(s.outcome, Login::Outcome::fail);
    EXPECT_EQ(s.chap, Login::ChapCheck::failed);
    EXPECT_EQ(util::load_be16(&s.response.bhs[36]), login_status::authentication_failure);
    EXPECT_NE(login.failure_reason().find("CHAP authentication failed"), std::string::npos) << login.failure_reason();
}

TEST_F(LoginChap, WrongUserIsAFailedCheckToo) {
    Login login(config, targets, 1);
    EXPECT_EQ(answer_with(login, normal, "someone", "averylongsecret1").chap, Login::ChapCheck::failed);
}

TEST_F(LoginChap, RightSecretIsReportedAsAPassedCheck) {
    Login login(config, targets, 1);
    const auto s = answer_with(login, normal, "user", "averylongsecret1");
    EXPECT_EQ(s.outcome, Login::Outcome::respond);
    EXPECT_EQ(s.chap, Login::ChapCheck::passed);
    EXPECT_EQ(util::load_be16(&s.response.bhs[36]), login_status::success);
}

// Discovery CHAP (serve --discovery-chap): a discovery session must pass it like a target's.
TEST_F(LoginChap, DiscoveryWithoutChapIsRefusedWhenDiscoveryChapIsSet) {
    Login login(ChapCredentials{"disco", "adiscoverysecret1", "", ""}, targets, 1);
    const auto s = login.on_pdu(
        login_pdu("InitiatorName=iqn.2026-12.org.test:i\0SessionType=Discovery\0AuthMethod=None\0"s, true));
    EXPECT_EQ(s.outcome, Login::Outcome::fail);
    EXPECT_EQ(util::load_be16(&s.response.bhs[36]), login_status::authentication_failure);
}

TEST_F(LoginChap, DiscoveryPassesWithTheDiscoveryCredentialsOnly) {
    const std::string disco = "InitiatorName=iqn.2026-12.org.test:i\0SessionType=Discovery\0"s;
    {
        Login login(ChapCredentials{"disco", "adiscoverysecret1", "", ""}, targets, 1);
        const auto s = answer_with(login, disco, "disco", "adiscoverysecret1");
        EXPECT_EQ(s.chap, Login::ChapCheck::passed);
        EXPECT_EQ(util::load_be16(&s.response.bhs[36]), login_status::success);
    }
    {
        Login login(ChapCredentials{"disco", "adiscoverysecret1", "", ""}, targets, 1);
        EXPECT_EQ(answer_with(login, disco, "user", "averylongsecret1").chap, Login::ChapCheck::failed)
            << "a target's credentials are not the discovery credentials";
    }
}

TEST_F(LoginChap, DiscoveryNeedsNoChapWhenNoneIsSet) {
    Login login(ChapCredentials{}, targets, 1);
    const auto s = login.on_pdu(
        login_pdu("InitiatorName=iqn.2026-12.org.test:i\0SessionType=Discovery\0AuthMethod=None\0"s, true));
    EXPECT_EQ(s.outcome, Login::Outcome::respond);
    EXPECT_EQ(util::load_be16(&s.response.bhs[36]), login_status::success);
}

}  // namespace
}  // namespace vstor::iscsi
