// A gateway's own ports in a config file: port_group and relative_port (1..65535, default 1),
// refused out of range, written back by `ctl save` when not the default; and an rbd LUN's
// forget_ms= (how long other gateways' dead port groups stay listed), read and written back.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "config/config_writer.hpp"
#include "config/serve_plan.hpp"

namespace vstor::cli {
namespace {

class ConfigPorts : public ::testing::Test {
protected:
    const std::string path = ::testing::TempDir() + "vstor-ports-" + std::to_string(::getpid()) + ".toml";
    void TearDown() override { std::remove(path.c_str()); }
    std::optional<ServePlan> load(const std::string& text, std::string& err, const std::string& lun = "mem:1M") {
        {
            std::ofstream f(path);
            f << text << "[[target]]\nname = \"iqn.2026-11.org.vstor:t\"\nluns = [\"" << lun << "\"]\n";
        }
        return load_config_file(path, err);
    }
};

TEST_F(ConfigPorts, DefaultsAndValues) {
    std::string err;
    auto plan = load("", err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->port_group, 1);
    EXPECT_EQ(plan->relative_port, 1);
    EXPECT_EQ(control::render_toml(*plan).find("port_group"), std::string::npos);
    plan = load("port_group = 2\nrelative_port = 2\n", err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->port_group, 2);
    EXPECT_EQ(plan->relative_port, 2);
    EXPECT_TRUE(check_relative_ports(*plan, err)) << err;
    const std::string text = control::render_toml(*plan);
    EXPECT_NE(text.find("port_group = 2"), std::string::npos) << text;
    EXPECT_NE(text.find("relative_port = 2"), std::string::npos) << text;
}

TEST_F(ConfigPorts, OutOfRangeIsRefused) {
    std::string err;
    EXPECT_FALSE(load("port_group = 0\n", err));
    EXPECT_NE(err.find("'port_group' = 0 is out of range"), std::string::npos) << err;
    EXPECT_FALSE(load("relative_port = 65536\n", err));
    EXPECT_NE(err.find("relative_port"), std::string::npos) << err;
    err.clear();
    auto plan = load("relative_port = 65535\n[[portal]]\nlisten = \"127.0.0.1:3260\"\n[[portal]]\nlisten = \"127.0.0.1:3261\"\n", err);
    ASSERT_TRUE(plan) << "error: " << err;
    EXPECT_FALSE(check_relative_ports(*plan, err));
    EXPECT_NE(err.find("1..65535"), std::string::npos) << err;
}

TEST_F(ConfigPorts, RbdForgetIsReadAndWrittenBack) {
    std::string err;
    auto plan = load("port_group = 2\nrelative_port = 2\n", err, "rbd:rbd/vol1,stall_ms=2000,forget_ms=20000");
    ASSERT_TRUE(plan) << err;
    ASSERT_EQ(plan->targets.size(), 1u);
    EXPECT_EQ(plan->targets[0].luns.at(0).rbd_forget_ms, 20000u);
    const std::string text = control::render_toml(*plan);
    EXPECT_NE(text.find("'rbd:rbd/vol1,stall_ms=2000,forget_ms=20000'"), std::string::npos) << text;
    EXPECT_FALSE(load("", err, "rbd:rbd/vol1,forget_ms=5000"));
    EXPECT_NE(err.find("forget_ms is the milliseconds"), std::string::npos) << err;
}

}  // namespace
}  // namespace vstor::cli
