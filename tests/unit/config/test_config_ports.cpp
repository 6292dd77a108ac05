// A gateway's own ports in a config file: port_group and relative_port (1..65535, default 1),
// refused out of range, written back by `ctl save` when not the default.
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
    std::optional<ServePlan> load(const std::string& text, std::string& err) {
        {
            std::ofstream f(path);
            f << text << "[[target]]\nname = \"iqn.2026-11.org.vstor:t\"\nluns = [\"mem:1M\"]\n";
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

}  // namespace
}  // namespace vstor::cli
