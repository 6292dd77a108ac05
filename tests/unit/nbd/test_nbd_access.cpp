// NBD under the targets' access rules (--chap, --allow, --mask): the policy itself, and a live
// server where an anonymous client, a TLS-PSK client mapped to an allowed initiator and one
// that is not allowed each see exactly what the rules give them; ctl-style rule changes close
// connections the new rules refuse; a handshake left half done is closed after the timeout.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "backends/mem/mem_backend.hpp"
#include "nbd/access.hpp"
#include "live_server.hpp"
#include "nbd_raw_client.hpp"
#include "nbd_tls_client.hpp"

namespace vstor::nbd {
namespace {

using test::kKeyHex;
using test::LiveServerTest;
using test::OptReply;
using test::RawClient;
using test::TlsClient;

constexpr const char* kAlice = "iqn.2026-01.org.example:alice";

AccessRules guarded_rules() {
    AccessRules r;
    r.authentication_required = true;
    r.allowed_initiators = {kAlice};
    r.lun_masks = {{kAlice, {0}}};
    return r;
}

AccessConfig config_with(std::optional<AccessRules> rules) {
    AccessConfig c;
    c.rules = [rules](std::uint16_t) { return rules; };
    c.identities = {{"alice", kAlice}};
    return c;
}

TEST(NbdAccessPolicy, UnguardedTargetAdmitsEveryone) {
    AccessPolicy p(config_with(std::nullopt));
    EXPECT_TRUE(p.decide(std::nullopt, 0, 1).allowed);
    AccessPolicy q(config_with(AccessRules{}));
    EXPECT_TRUE(q.decide(std::nullopt, 0, 1).allowed);
    EXPECT_FALSE(q.decide(std::nullopt, 0, 1).visible_luns);
}

TEST(NbdAccessPolicy, GuardedTargetRefusesClientsWithoutIdentity) {
    AccessPolicy p(config_with(guarded_rules()));
    EXPECT_FALSE(p.decide(std::nullopt, 0, 0).allowed);
    EXPECT_FALSE(p.decide(std::nullopt, 0, 1).allowed);
    // Each rule alone guards the target.
    for (int which = 0; which < 3; ++which) {
        AccessRules r;
        if (which == 0) r.authentication_required = true;
        if (which == 1) r.allowed_initiators = {kAlice};
        if (which == 2) r.lun_masks = {{kAlice, {0}}};
        EXPECT_FALSE(AccessPolicy(config_with(r)).decide(std::nullopt, 0, 0).allowed) << which;
    }
}

TEST(NbdAccessPolicy, InsecureOptInLetsAnonymousClientsThrough) {
    auto cfg = config_with(guarded_rules());
    cfg.insecure_unauthenticated = true;
    AccessPolicy p(cfg);
    EXPECT_TRUE(p.decide(std::nullopt, 0, 1).allowed);
    // An identified client still gets only what the rules give its initiator.
    EXPECT_FALSE(p.decide(std::string(kAlice), 0, 1).allowed);
}

TEST(NbdAccessPolicy, IdentityMapsToInitiatorAndMaskApplies) {
    AccessPolicy p(config_with(guarded_rules()));
    EXPECT_EQ(p.initiator_for("alice"), kAlice);
    EXPECT_EQ(p.initiator_for("iqn.2026-01.org.example:carol"), "iqn.2026-01.org.example:carol");  // unlisted: itself
    const auto lun0 = p.decide(std::string(kAlice), 0, 0);
    ASSERT_TRUE(lun0.allowed);
    ASSERT_TRUE(lun0.visible_luns);
    EXPECT_EQ(*lun0.visible_luns, std::vector<std::uint16_t>{0});
    EXPECT_FALSE(p.decide(std::string(kAlice), 0, 1).allowed);        // masked
    EXPECT_FALSE(p.decide(std::string("bob"), 0, 0).allowed);          // not in the allow list
}

// A catalog of two exports (LUN 0 and LUN 1 of target 0).
class TwoExports : public ExportCatalog {
public:
    std::optional<ExportInfo> lookup(std::string_view name) const override {
        for (auto& e : list())
            if (e.name == name || (name.empty() && e.lun == 0)) return e;
        return std::nullopt;
    }
    std::vector<ExportInfo> list() const override {
        ExportInfo a, b;
        a.name = "lun0";
        b.name = "lun1";
        b.lun = 1;
        return {a, b};
    }
};

TEST(NbdAccessPolicy, ClientCatalogHidesWhatTheClientMayNotSee) {
    TwoExports all;
    AccessPolicy p(config_with(guarded_rules()));
    ClientCatalog anonymous(all, p);
    EXPECT_TRUE(anonymous.list().empty());
    EXPECT_FALSE(anonymous.lookup(""));
    EXPECT_FALSE(anonymous.lookup("lun1"));
    ClientCatalog alice(all, p);
    alice.set_initiator(kAlice);
    const auto seen = alice.list();
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].name, "lun0");
    EXPECT_TRUE(alice.lookup("lun0"));
    EXPECT_FALSE(alice.lookup("lun1"));
}

// A live server over a target whose rules the test changes, as `vstor ctl` would.
class NbdAccessServer : public LiveServerTest {
protected:
    void start(bool tls, unsigned handshake_timeout_s = 15) {
        psk_path = ::testing::TempDir() + "vstor-nbd-access-" + std::to_string(::getpid()) + ".psk";
        std::ofstream(psk_path) << "alice:" << kKeyHex << "\nbob:" << kKeyHex << "\n";
        const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:guarded").value;
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(8u << 20)));
        ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<backends::MemBackend>(4u << 20)));
        ServerConfig cfg;
        cfg.exports = {ExportConfig{"lun0", "", tid, 0}, ExportConfig{"lun1", "", tid, 1}};
        cfg.event_loops = 1;
        if (tls) {
            cfg.tls.mode = TlsConfig::Mode::require;
            cfg.tls.psk_file = psk_path;
        }
        rules = guarded_rules();
        cfg.access.rules = [this](std::uint16_t) {
            std::lock_guard lk(rules_mu);
            return std::optional<AccessRules>(rules);
        };
        cfg.access.identities = {{"alice", kAlice}};
        cfg.handshake_timeout_s = handshake_timeout_s;
        start_server(cfg);
    }
    void TearDown() override {
        LiveServerTest::TearDown();
        if (!psk_path.empty()) std::remove(psk_path.c_str());
    }
    // Greeting, STARTTLS and a PSK handshake as `user`.
    std::unique_ptr<TlsClient> tls_login(RawClient& c, const char* user) {
        if (!c.connect(port) || !c.greet()) return nullptr;
        auto ack = c.option(opt::starttls);
        if (ack.size() != 1 || ack[0].type != rep::ack) return nullptr;
        auto t = std::make_unique<TlsClient>(c.fd(), user, kKeyHex);
        if (!t->handshake()) return nullptr;
        return t;
    }
    static std::vector<std::string> names(const std::vector<OptReply>& list) {
        std::vector<std::string> out;
        for (const auto& r : list)
            if (r.type == rep::server && r.data.size() >= 4)
                out.emplace_back(r.data.begin() + 4, r.data.begin() + 4 + util::load_be32(r.data.data()));
        return out;
    }
    // FLUSH answered without error.
    static bool flush(TlsClient& t) {
        std::array<std::uint8_t, kRequestHeaderSize> h{};
        encode_request(RequestHeader{0, cmd::flush, 9, 0, 0}, h);
        std::uint8_t simple[16];
        return t.send_all(h.data(), h.size()) && t.recv_all(simple, 16) && util::load_be32(simple + 4) == 0;
    }
    void set_rules(AccessRules r) {
        std::lock_guard lk(rules_mu);
        rules = std::move(r);
    }

    std::string psk_path;
    std::mutex rules_mu;
    AccessRules rules;
};

TEST_F(NbdAccessServer, AnonymousClientGetsNothingOfAGuardedTarget) {
    start(false);
    RawClient c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.greet());
    auto list = c.option(opt::list);
    ASSERT_FALSE(list.empty());
    EXPECT_EQ(list.back().type, rep::ack);
    EXPECT_TRUE(names(list).empty());
    const std::vector<std::string> all = {"", "lun0", "lun1"};
    for (const auto& name : all) {
        auto info = c.option(opt::info, RawClient::go_data(name));
        ASSERT_EQ(info.size(), 1u) << name;
        EXPECT_EQ(info[0].type, rep::err_unknown) << name;  // hidden exactly like a missing export
        auto go = c.option(opt::go, RawClient::go_data(name));
        ASSERT_EQ(go.size(), 1u) << name;
        EXPECT_EQ(go[0].type, rep::err_unknown) << name;
    }
}

TEST_F(NbdAccessServer, PskIdentityGetsExactlyItsMaskedLuns) {
    start(true);
    RawClient c;
    auto t = tls_login(c, "alice");
    ASSERT_TRUE(t);
    EXPECT_EQ(names(t->option(opt::list, {})), std::vector<std::string>{"lun0"});
    auto hidden = t->option(opt::go, RawClient::go_data("lun1"));
    ASSERT_EQ(hidden.size(), 1u);
    EXPECT_EQ(hidden[0].type, rep::err_unknown);
    auto go = t->option(opt::go, RawClient::go_data("lun0"));
    ASSERT_FALSE(go.empty());
    ASSERT_EQ(go.back().type, rep::ack);
    std::array<std::uint8_t, kRequestHeaderSize> h{};
    encode_request(RequestHeader{0, cmd::read, 7, 0, 4096}, h);
    ASSERT_TRUE(t->send_all(h.data(), h.size()));
    std::uint8_t simple[16];
    ASSERT_TRUE(t->recv_all(simple, 16));
    EXPECT_EQ(util::load_be32(simple + 4), 0u);  // no error
    std::vector<std::uint8_t> data(4096);
    ASSERT_TRUE(t->recv_all(data.data(), data.size()));

    // bob proves a PSK identity too, but the allow list does not name him.
    RawClient c2;
    auto b = tls_login(c2, "bob");
    ASSERT_TRUE(b);
    EXPECT_TRUE(names(b->option(opt::list, {})).empty());
    auto refused = b->option(opt::go, RawClient::go_data("lun0"));
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].type, rep::err_unknown);
}

TEST_F(NbdAccessServer, RevokedAccessClosesTheConnection) {
    start(true);
    RawClient c;
    auto t = tls_login(c, "alice");
    ASSERT_TRUE(t);
    auto go = t->option(opt::go, RawClient::go_data("lun0"));
    ASSERT_FALSE(go.empty());
    ASSERT_EQ(go.back().type, rep::ack);
    ASSERT_TRUE(flush(*t));                   // in transmission now
    EXPECT_EQ(server->recheck_access(), 0u);  // nothing changed: nobody is closed

    auto r = guarded_rules();
    r.allowed_initiators = {"iqn.2026-01.org.example:carol"};  // `ctl acl deny` alice
    set_rules(r);
    EXPECT_EQ(server->recheck_access(), 1u);
    std::uint8_t b[16];
    const ssize_t n = t->recv_some(b, sizeof b);  // close_notify or EOF, not a timeout
    EXPECT_TRUE(n == 0 || n == GNUTLS_E_PREMATURE_TERMINATION) << n;
}

TEST_F(NbdAccessServer, HalfDoneHandshakeIsClosedAfterTheTimeout) {
    start(false, 1);
    RawClient idle;
    ASSERT_TRUE(idle.connect(port));
    ASSERT_TRUE(idle.greet());  // then nothing: no option ever comes
    RawClient silent;
    ASSERT_TRUE(silent.connect(port));  // not even the client flags
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(idle.closed_by_server());
    EXPECT_TRUE(silent.closed_by_server());
    const auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_GE(waited, std::chrono::milliseconds(700));
    EXPECT_LT(waited, std::chrono::seconds(4));
}

TEST_F(NbdAccessServer, TransmissionIsNotCutByTheHandshakeTimeout) {
    start(true, 1);
    RawClient c;
    auto t = tls_login(c, "alice");
    ASSERT_TRUE(t);
    auto go = t->option(opt::go, RawClient::go_data("lun0"));
    ASSERT_FALSE(go.empty());
    ASSERT_EQ(go.back().type, rep::ack);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_TRUE(flush(*t));
}

}  // namespace
}  // namespace vstor::nbd
