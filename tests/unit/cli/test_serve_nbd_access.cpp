// `vstor serve` NBD access options: --nbd-identity, --nbd-handshake-timeout, the start-up refusal
// of a guarded target NBD cannot authenticate (and its insecure opt-in), and their [nbd] keys.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "cli/serve_nbd.hpp"
#include "config/serve_plan.hpp"

namespace vstor::cli {
namespace {

ServePlan guarded_plan() {
    ServePlan plan;
    TargetPlan t;
    t.config.name = "iqn.2026-11.org.vstor:disk0";
    t.config.allowed_initiators = {"iqn.2026-01.org.example:alice"};
    plan.targets.push_back(t);
    plan.nbd_listen = {"127.0.0.1:0"};
    return plan;
}

TEST(NbdAccessFlags, IdentityMapping) {
    std::string err;
    std::pair<std::string, std::string> m;
    ASSERT_TRUE(parse_nbd_identity("alice=iqn.2026-01.org.example:alice", m, err)) << err;
    EXPECT_EQ(m.first, "alice");
    EXPECT_EQ(m.second, "iqn.2026-01.org.example:alice");
    ASSERT_TRUE(parse_nbd_identity("CN=a=b=iqn.2026-01.org.example:y", m, err)) << err;  // split at the last '='
    EXPECT_EQ(m.first, "CN=a=b");
    EXPECT_FALSE(parse_nbd_identity("alice=bob", m, err));  // not an iSCSI name
    EXPECT_FALSE(parse_nbd_identity("alice", m, err));
    EXPECT_FALSE(parse_nbd_identity("=iqn.x", m, err));
    EXPECT_FALSE(parse_nbd_identity("alice=", m, err));
}

TEST(NbdAccessFlags, HandshakeTimeoutRange) {
    std::string err;
    EXPECT_TRUE(check_nbd_handshake_timeout(1, err));
    EXPECT_TRUE(check_nbd_handshake_timeout(3600, err));
    EXPECT_FALSE(check_nbd_handshake_timeout(0, err));
    EXPECT_FALSE(check_nbd_handshake_timeout(-1, err));
    EXPECT_FALSE(check_nbd_handshake_timeout(3601, err));
    EXPECT_NE(err.find("--nbd-handshake-timeout"), std::string::npos);
    auto plan = guarded_plan();
    plan.targets[0].config.allowed_initiators.clear();
    plan.nbd_handshake_timeout = 0;
    nbd::ServerConfig cfg;
    EXPECT_FALSE(nbd_server_config(plan, cfg, err));
    plan.nbd_handshake_timeout = 7;
    ASSERT_TRUE(nbd_server_config(plan, cfg, err)) << err;
    EXPECT_EQ(cfg.handshake_timeout_s, 7u);
    plan.nbd_handshake_timeout.reset();
    ASSERT_TRUE(nbd_server_config(plan, cfg, err)) << err;
    EXPECT_EQ(cfg.handshake_timeout_s, 15u);  // the default
}

TEST(NbdAccessFlags, GuardedTargetNeedsAuthenticatingTls) {
    std::string err;
    nbd::ServerConfig cfg;
    // Each rule guards the target: plain NBD is refused with one line that says why and how.
    for (int which = 0; which < 3; ++which) {
        auto plan = guarded_plan();
        plan.targets[0].config.allowed_initiators.clear();
        if (which == 0) plan.targets[0].config.chap.user = "user";
        if (which == 1) plan.targets[0].config.allowed_initiators = {"iqn.2026-01.org.example:alice"};
        if (which == 2) plan.targets[0].config.lun_masks = {{"iqn.2026-01.org.example:alice", {0}}};
        EXPECT_FALSE(nbd_server_config(plan, cfg, err)) << which;
        EXPECT_NE(err.find("iqn.2026-11.org.vstor:disk0 is guarded"), std::string::npos) << err;
        EXPECT_NE(err.find("--nbd-insecure-unauthenticated"), std::string::npos) << err;
        EXPECT_EQ(err.find('\n'), std::string::npos);
    }
    auto plan = guarded_plan();
    plan.nbd_tls = "on,psk=/k.psk";  // offered only: plain clients remain
    EXPECT_FALSE(nbd_server_config(plan, cfg, err));
    plan.nbd_tls = "require,cert=/c.pem,key=/k.pem";  // certificates, but clients are not verified
    EXPECT_FALSE(nbd_server_config(plan, cfg, err));
    EXPECT_NE(err.find("ca="), std::string::npos) << err;
    plan.nbd_tls = "require,cert=/c.pem,key=/k.pem,psk=/k.psk";  // X.509 clients would be anonymous
    EXPECT_FALSE(nbd_server_config(plan, cfg, err));
    plan.nbd_tls = "require,psk=/k.psk";
    EXPECT_TRUE(nbd_server_config(plan, cfg, err)) << err;
    plan.nbd_tls = "require,cert=/c.pem,key=/k.pem,ca=/ca.pem";
    EXPECT_TRUE(nbd_server_config(plan, cfg, err)) << err;
    // Kept off NBD, or NBD off, or the explicit insecure opt-in: accepted.
    plan = guarded_plan();
    plan.targets[0].nbd_export = false;
    EXPECT_TRUE(nbd_server_config(plan, cfg, err)) << err;
    plan = guarded_plan();
    plan.nbd_listen.clear();
    EXPECT_TRUE(nbd_server_config(plan, cfg, err)) << err;
    plan = guarded_plan();
    plan.nbd_insecure_unauthenticated = true;
    ASSERT_TRUE(nbd_server_config(plan, cfg, err)) << err;
    EXPECT_TRUE(cfg.access.insecure_unauthenticated);
}

TEST(NbdAccessFlags, ConfigFileKeys) {
    const std::string path = ::testing::TempDir() + "vstor-nbd-access-" + std::to_string(::getpid()) + ".toml";
    const std::string target = "[[target]]\nname = \"iqn.2026-01.org.example:x\"\nluns = [\"mem:1M\"]\n";
    {
        std::ofstream f(path);
        f << "[nbd]\nlisten = [\"127.0.0.1:0\"]\nidentities = [\"alice=iqn.2026-01.org.example:alice\"]\n"
             "insecure_unauthenticated = true\nhandshake_timeout = 9\n"
          << target;
    }
    std::string err;
    auto plan = load_config_file(path, err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->nbd_identities, std::vector<std::string>{"alice=iqn.2026-01.org.example:alice"});
    EXPECT_TRUE(plan->nbd_insecure_unauthenticated);
    EXPECT_EQ(plan->nbd_handshake_timeout, 9);
    for (const char* bad : {"handshake_timeout = 0\n", "handshake_timeout = \"15\"\n",
                            "insecure_unauthenticated = \"yes\"\n", "identities = \"alice=iqn.x\"\n"}) {
        {
            std::ofstream f(path);
            f << "[nbd]\nlisten = [\"127.0.0.1:0\"]\n" << bad << target;
        }
        EXPECT_FALSE(load_config_file(path, err)) << bad;
        EXPECT_NE(err.find(std::string(bad).substr(0, std::string(bad).find(' '))), std::string::npos) << err;
    }
    std::remove(path.c_str());
}

}  // namespace
}  // namespace vstor::cli
