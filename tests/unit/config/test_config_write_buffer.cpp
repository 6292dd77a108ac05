// The write buffer budget in a config file: sizes as in --lun, "0" for no limit, the per-session
// value no larger than the total, a bad size named with the key; `ctl save` writes them back.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "config/serve_plan.hpp"
#include "config/config_writer.hpp"

namespace vstor::cli {
namespace {

class ConfigWriteBuffer : public ::testing::Test {
protected:
    const std::string path = ::testing::TempDir() + "vstor-wbuf-" + std::to_string(::getpid()) + ".toml";
    void TearDown() override { std::remove(path.c_str()); }
    std::optional<ServePlan> load(const std::string& text, std::string& err) {
        {
            std::ofstream f(path);
            f << text << "[[target]]\nname = \"iqn.2026-11.org.vstor:t\"\nluns = [\"mem:1M\"]\n";
        }
        return load_config_file(path, err);
    }
};

TEST_F(ConfigWriteBuffer, DefaultsSizesAndNoLimit) {
    std::string err;
    auto plan = load("", err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->write_buffer_per_session, 256ull << 20);
    EXPECT_EQ(plan->write_buffer_total, 1ull << 30);
    plan = load("write_buffer_per_session = \"16M\"\nwrite_buffer_total = \"64M\"\n", err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->write_buffer_per_session, 16ull << 20);
    EXPECT_EQ(plan->write_buffer_total, 64ull << 20);
    plan = load("write_buffer_per_session = \"0\"\nwrite_buffer_total = \"0\"\n", err);
    ASSERT_TRUE(plan) << err;
    EXPECT_EQ(plan->write_buffer_total, 0u);
}

TEST_F(ConfigWriteBuffer, BadValuesAreRefused) {
    std::string err;
    EXPECT_FALSE(load("write_buffer_total = \"lots\"\n", err));
    EXPECT_NE(err.find("'write_buffer_total' must be a size"), std::string::npos) << err;
    EXPECT_FALSE(load("write_buffer_total = 1048576\n", err));  // the schema wants a string
    EXPECT_NE(err.find("write_buffer_total"), std::string::npos) << err;
    EXPECT_FALSE(load("write_buffer_per_session = \"2G\"\n", err));  // above the 1G default total
    EXPECT_NE(err.find("exceeds the total"), std::string::npos) << err;
}

TEST_F(ConfigWriteBuffer, SaveWritesNonDefaultValuesBack) {
    std::string err;
    auto plan = load("write_buffer_per_session = \"16M\"\nwrite_buffer_total = \"64M\"\n", err);
    ASSERT_TRUE(plan) << err;
    const std::string text = control::render_toml(*plan);
    EXPECT_NE(text.find("write_buffer_per_session = '16M'"), std::string::npos) << text;
    {
        std::ofstream f(path);
        f << text;
    }
    auto again = load_config_file(path, err);
    ASSERT_TRUE(again) << err;
    EXPECT_EQ(again->write_buffer_total, 64ull << 20);
    EXPECT_EQ(control::render_toml(ServePlan{}).find("write_buffer"), std::string::npos);
}

}  // namespace
}  // namespace vstor::cli
