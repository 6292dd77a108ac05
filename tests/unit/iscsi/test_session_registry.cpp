// The session registry's rules for matching a login to sessions (RFC 7143 6.3.5), without
// sockets: new ISID, session reinstatement, MC/S joins by TSIH and their refusals.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "iscsi/login.hpp"
#include "iscsi/session.hpp"
#include "iscsi/session_registry.hpp"

namespace vstor::iscsi {
namespace {

const std::string kInitiator = "iqn.2026-12.org.test:host";

TargetPtr target(const std::string& name) {
    auto t = std::make_shared<TargetConfig>();
    t->name = name;
    return t;
}

LoginIdentity identity(std::uint8_t isid_last, const TargetPtr& t, std::uint16_t tsih = 0,
                       const std::string& initiator = kInitiator) {
    LoginIdentity who;
    who.tsih = tsih;
    who.isid = {0x80, 0x12, 0x34, 0x56, 0x00, isid_last};
    who.initiator_name = initiator;
    who.target = t.get();
    return who;
}

// A session as a leading login of `who` would make it, registered under a fresh TSIH.
std::shared_ptr<Session> open(SessionRegistry& reg, const LoginIdentity& who, const TargetPtr& t) {
    LoginKeys keys;
    keys.initiator_name = who.initiator_name;
    keys.target_name = t ? t->name : "";
    keys.session_type = t ? SessionType::normal : SessionType::discovery;
    auto s = std::make_shared<Session>(reg.allocate_tsih(), who.isid.data(), keys, t, SessionParams{}, nullptr, 1);
    reg.add(s);
    return s;
}

TEST(SessionRegistry, NewIsidIsANewSession) {
    SessionRegistry reg;
    const auto t = target("iqn.2026-12.org.vstor:a");
    auto first = open(reg, identity(1, t), t);
    EXPECT_EQ(reg.take_for_reinstatement(identity(2, t)), nullptr);
    auto second = open(reg, identity(2, t), t);
    EXPECT_NE(first->tsih(), second->tsih());
    EXPECT_EQ(reg.all().size(), 2u);
}

TEST(SessionRegistry, SameIsidReinstatesTheOldSession) {
    SessionRegistry reg;
    const auto t = target("iqn.2026-12.org.vstor:a");
    auto old = open(reg, identity(1, t), t);
    EXPECT_EQ(reg.take_for_reinstatement(identity(1, t)), old);
    EXPECT_EQ(reg.find(old->tsih()), nullptr) << "the reinstated session must leave the registry";
    EXPECT_TRUE(reg.all().empty());
    EXPECT_EQ(reg.take_for_reinstatement(identity(1, t)), nullptr) << "taken once only";
}

TEST(SessionRegistry, ReinstatementNeedsTheSameInitiatorAndTarget) {
    SessionRegistry reg;
    const auto a = target("iqn.2026-12.org.vstor:a");
    const auto b = target("iqn.2026-12.org.vstor:b");
    open(reg, identity(1, a), a);
    EXPECT_EQ(reg.take_for_reinstatement(identity(1, b)), nullptr) << "same ISID, other target";
    EXPECT_EQ(reg.take_for_reinstatement(identity(1, a, 0, "iqn.2026-12.org.test:other")), nullptr)
        << "same ISID, other initiator";
    EXPECT_EQ(reg.take_for_reinstatement(identity(1, nullptr)), nullptr) << "a discovery session";
    EXPECT_EQ(reg.all().size(), 1u);
    // Discovery sessions (no target) reinstate one another.
    auto d = open(reg, identity(1, nullptr), nullptr);
    EXPECT_EQ(reg.take_for_reinstatement(identity(1, nullptr)), d);
}

TEST(SessionRegistry, UnknownTsihIsSessionDoesNotExist) {
    SessionRegistry reg;
    const auto t = target("iqn.2026-12.org.vstor:a");
    auto s = open(reg, identity(1, t), t);
    const auto unknown = static_cast<std::uint16_t>(s->tsih() + 1);
    const auto j = reg.join(identity(1, t, unknown));
    EXPECT_EQ(j.session, nullptr);
    EXPECT_EQ(j.status, login_status::session_does_not_exist);
    EXPECT_EQ(j.status, 0x020a);  // RFC 7143 11.13.5
}

TEST(SessionRegistry, TsihOfAnotherInitiatorPortIsSessionDoesNotExist) {
    SessionRegistry reg;
    const auto t = target("iqn.2026-12.org.vstor:a");
    auto s = open(reg, identity(1, t), t);
    EXPECT_EQ(reg.join(identity(2, t, s->tsih())).status, login_status::session_does_not_exist) << "other ISID";
    EXPECT_EQ(reg.join(identity(1, t, s->tsih(), "iqn.2026-12.org.test:other")).status,
              login_status::session_does_not_exist)
        << "other initiator";
}

TEST(SessionRegistry, MatchingTsihJoinsTheSession) {
    SessionRegistry reg;
    const auto t = target("iqn.2026-12.org.vstor:a");
    auto s = open(reg, identity(1, t), t);
    const auto j = reg.join(identity(1, t, s->tsih()));
    EXPECT_EQ(j.status, login_status::success);
    EXPECT_EQ(j.session, s);
    EXPECT_EQ(reg.find(s->tsih()), s) << "joining leaves the session registered";
}

TEST(SessionRegistry, TsihsAreUniqueAndNeverZero) {
    SessionRegistry reg;
    const auto t = target("iqn.2026-12.org.vstor:a");
    // Around the whole 16-bit space: the counter wraps, skips 0 and the TSIHs in use.
    auto held = open(reg, identity(1, t), t);
    for (int i = 0; i < 70000; ++i) {
        const auto tsih = reg.allocate_tsih();
        ASSERT_NE(tsih, 0);
        ASSERT_NE(tsih, held->tsih());
    }
}

TEST(SessionRegistry, RemoveLeavesANewerSessionWithTheSameTsih) {
    SessionRegistry reg;
    const auto t = target("iqn.2026-12.org.vstor:a");
    auto s = open(reg, identity(1, t), t);
    auto stale = std::make_shared<Session>(s->tsih(), s->isid(), s->keys(), t, SessionParams{}, nullptr, 1);
    reg.remove(stale.get());
    EXPECT_EQ(reg.find(s->tsih()), s);
    reg.remove(s.get());
    EXPECT_EQ(reg.find(s->tsih()), nullptr);
}

}  // namespace
}  // namespace vstor::iscsi
