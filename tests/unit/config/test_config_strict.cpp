// `vstor serve --config`: every unknown key, wrong type and out-of-range value is refused with one
// message naming the file, line, section and key (a typo must never silently drop a setting such
// as CHAP).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "config/config_schema.hpp"
#include "config/serve_plan.hpp"

namespace vstor::cli {
namespace {

class ConfigStrict : public ::testing::Test {
protected:
    // One file per process: ctest -j and parallel builds' runs share TempDir().
    const std::string path = ::testing::TempDir() + "vstor-strict-" + std::to_string(::getpid()) + ".toml";
    void TearDown() override { std::remove(path.c_str()); }

    // Loads `text`; returns the error ("" when it loaded).
    std::string load(const std::string& text) {
        {
            std::ofstream f(path);
            f << text;
        }
        std::string err;
        auto plan = load_config_file(path, err);
        if (plan) return "";
        EXPECT_FALSE(err.empty());
        return err;
    }
};

const std::string kTarget = "[[target]]\nname = \"iqn.2026-11.org.vstor:t\"\nluns = [\"mem:1M\"]\n";

TEST_F(ConfigStrict, GoodFileLoads) {
    EXPECT_EQ(load("loops = 2\n[[portal]]\nlisten = \"127.0.0.1:3260\"\n" + kTarget +
                   "alias = \"a\"\nchap = \"user:a-long-secret1\"\nallow = [\"iqn.1993-08.org.debian:01:h\"]\n"
                   "nbd = true\n[nbd]\nlisten = [\"127.0.0.1:10809\"]\n"),
              "");
}

TEST_F(ConfigStrict, UnknownKeyInTargetNamesItAndSuggests) {
    EXPECT_EQ(load(kTarget + "cahp = \"user:a-long-secret1\"\n"),
              path + ":4: target 1: unknown key 'cahp' (did you mean 'chap'?)");
}

TEST_F(ConfigStrict, UnknownKeysEverywhere) {
    EXPECT_EQ(load("colour = 1\n" + kTarget), path + ":1: unknown key 'colour' (expected one of: loops, login_timeout, discovery_chap, discovery_mutual_chap, write_buffer_per_session, write_buffer_total, max_connections, max_connections_per_address, port_group, relative_port, portal, target, nbd)");
    EXPECT_EQ(load("[[portal]]\nlisten = \"127.0.0.1\"\nport = 3261\n" + kTarget),
              path + ":3: portal 1: unknown key 'port' (expected one of: listen)");
    EXPECT_EQ(load(kTarget + "[nbd]\nlisen = [\"127.0.0.1\"]\n"),
              path + ":5: [nbd]: unknown key 'lisen' (did you mean 'listen'?)");
    EXPECT_EQ(load(kTarget + kTarget + "mask = [\"iqn.2026-11.org.vstor:i=0\"]\n"),
              path + ":7: target 2: unknown key 'mask' (did you mean 'masks'?)");
}

TEST_F(ConfigStrict, WrongTypes) {
    EXPECT_EQ(load("loops = \"two\"\n" + kTarget),
              path + ":1: 'loops' must be a whole number from 0 to 256, not a string");
    EXPECT_EQ(load("loops = 2.5\n" + kTarget),
              path + ":1: 'loops' must be a whole number from 0 to 256, not a number with a fraction");
    EXPECT_EQ(load(kTarget + "nbd = \"no\"\n"), path + ":4: target 1: 'nbd' must be true or false, not a string");
    EXPECT_EQ(load(kTarget + "chap = [\"a\"]\n"), path + ":4: target 1: 'chap' must be a string, not a list");
    EXPECT_EQ(load(kTarget + "allow = \"iqn.1993-08.org.debian:01:h\"\n"),
              path + ":4: target 1: 'allow' must be a list of strings, not a string");
    EXPECT_EQ(load(kTarget + "allow = [\"iqn.1993-08.org.debian:01:h\", 7]\n"),
              path + ":4: target 1: 'allow' must be a list of strings, but holds an integer");
    EXPECT_EQ(load("nbd = 1\n" + kTarget), path + ":1: 'nbd' must be a table ([nbd]), not an integer");
    EXPECT_EQ(load("[portal]\nlisten = \"127.0.0.1\"\n" + kTarget),
              path + ":1: 'portal' must be a list of tables ([[portal]]), not a table");
}

TEST_F(ConfigStrict, LoopsOutOfRange) {
    EXPECT_EQ(load("loops = -3\n" + kTarget), path + ":1: 'loops' = -3 is out of range (0 to 256)");
    EXPECT_EQ(load("loops = 100000\n" + kTarget), path + ":1: 'loops' = 100000 is out of range (0 to 256)");
    EXPECT_EQ(load("loops = 256\n" + kTarget), "");
}

// Names follow the iSCSI rules (one validator, tests/unit/iscsi/test_iscsi_name.cpp has the table)
// and a mask may only name LUNs the target has.
TEST_F(ConfigStrict, NamesAndMasks) {
    const std::string lun = "luns = [\"mem:1M\", \"mem:1M,lun=5\"]\n";
    EXPECT_EQ(load("[[target]]\nname = \"disks\"\n" + lun),
              path + ": target 1: name 'disks': iSCSI names start with 'iqn.', 'eui.' or 'naa.' (RFC 7143 4.2.7.1)");
    EXPECT_EQ(load(kTarget + "allow = [\"iqn.1993-08.org.debian:01:Host1\"]\n"),
              path + ": target 1: allow 'iqn.1993-08.org.debian:01:Host1': iSCSI names are lower case (RFC 3722); "
                     "write 'iqn.1993-08.org.debian:01:host1'");
    EXPECT_EQ(load(kTarget + "masks = [\"host1=0\"]\n"),
              path + ": target 1: mask 'host1=0': initiator 'host1': iSCSI names start with 'iqn.', 'eui.' or 'naa.' "
                     "(RFC 7143 4.2.7.1)");
    EXPECT_EQ(load(kTarget + "masks = [\"iqn.1993-08.org.debian:01:h=0,1\"]\n"),
              path + ": target 1: mask 'iqn.1993-08.org.debian:01:h=0,1': target iqn.2026-11.org.vstor:t has no LUN 1");
    // LUN numbers are positions unless lun=N says otherwise.
    EXPECT_EQ(load("[[target]]\nname = \"iqn.2026-11.org.vstor:t\"\n" + lun +
                   "masks = [\"iqn.1993-08.org.debian:01:h=0,5\", \"eui.02004567a425678d=5\"]\n"),
              "");
    EXPECT_NE(load("[[target]]\nname = \"iqn.2026-11.org.vstor:t\"\n" + lun +
                   "masks = [\"iqn.1993-08.org.debian:01:h=1\"]\n"),
              "");
}

// The table is what other keys get added to: every key named once, tables have fields.
TEST(ConfigSchema, KeysAreUniqueAndTablesHaveFields) {
    auto check = [](std::span<const ConfigKey> keys, auto& self) -> void {
        for (std::size_t i = 0; i < keys.size(); ++i) {
            for (std::size_t j = i + 1; j < keys.size(); ++j) {
                EXPECT_NE(keys[i].name, keys[j].name);
            }
            if (keys[i].type == ConfigType::table || keys[i].type == ConfigType::table_list) {
                EXPECT_FALSE(keys[i].fields.empty()) << keys[i].name;
                self(keys[i].fields, self);
            }
            if (keys[i].type == ConfigType::integer) {
                EXPECT_LE(keys[i].min, keys[i].max) << keys[i].name;
            }
        }
    };
    check(kTopLevelKeys, check);
}

TEST_F(ConfigStrict, LoginTimeoutIsSecondsFromOneTo3600) {
    EXPECT_EQ(load("login_timeout = 5\n" + kTarget), "");
    EXPECT_EQ(load("login_timeout = 0\n" + kTarget), path + ":1: 'login_timeout' = 0 is out of range (1 to 3600)");
    EXPECT_EQ(load("login_timeout = \"5\"\n" + kTarget),
              path + ":1: 'login_timeout' must be a whole number from 1 to 3600, not a string");
    std::string err;
    std::ofstream(path) << "login_timeout = 7\n" + kTarget;
    EXPECT_EQ(load_config_file(path, err)->login_timeout_s, 7u) << err;
}

TEST_F(ConfigStrict, DiscoveryChap) {
    std::string err;
    std::ofstream(path) << "discovery_chap = \"disco:adiscoverysecret1\"\n" + kTarget;
    const auto plan = load_config_file(path, err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->discovery_chap.user, "disco");
    EXPECT_EQ(plan->discovery_chap.secret, "adiscoverysecret1");
    EXPECT_EQ(load("discovery_chap = \"disco:short\"\n" + kTarget),
              path + ": discovery_chap: the secret must be at least 12 characters (RFC 7143 12.1.3)");
    EXPECT_EQ(load("discovery_mutual_chap = \"tgt:anothersecret12\"\n" + kTarget),
              path + ": discovery_mutual_chap needs discovery_chap as well");
}

TEST_F(ConfigStrict, ConnectionLimitsAreCountsWithZeroForNone) {
    EXPECT_EQ(load("max_connections = -1\n" + kTarget),
              path + ":1: 'max_connections' = -1 is out of range (0 to 1000000)");
    EXPECT_EQ(load("max_connections_per_address = \"many\"\n" + kTarget),
              path + ":1: 'max_connections_per_address' must be a whole number from 0 to 1000000, not a string");
    std::string err;
    std::ofstream(path) << "max_connections = 0\nmax_connections_per_address = 8\n" + kTarget;
    const auto plan = load_config_file(path, err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->limits.max_connections, 0u);
    EXPECT_EQ(plan->limits.max_per_address, 8u);
    std::ofstream(path) << kTarget;
    EXPECT_EQ(load_config_file(path, err)->limits.max_connections, util::kDefaultMaxConnections);
}

}  // namespace
}  // namespace vstor::cli
