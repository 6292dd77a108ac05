// apply_rbd_conf without a cluster: a configuration file's own values win over vstor's timeouts,
// vstor's timeouts replace Ceph's built-in ones, and the settings the LUN needs win over the file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "backends/rbd/rbd_conf.hpp"

namespace vstor::backends {
namespace {

// A librados context that read `conf_text` as its configuration file, then apply_rbd_conf.
struct Conf {
    rados_t cluster = nullptr;
    explicit Conf(const std::string& conf_text) {
        const auto path = std::filesystem::temp_directory_path() / ("vstor-rbd-conf-" + std::to_string(::getpid()));
        std::ofstream(path) << "[global]\n" << conf_text;
        EXPECT_EQ(rados_create(&cluster, nullptr), 0);
        EXPECT_EQ(rados_conf_read_file(cluster, path.c_str()), 0);
        std::filesystem::remove(path);
        apply_rbd_conf(cluster);
    }
    ~Conf() { rados_shutdown(cluster); }
    double number(const char* key) const {
        char v[64] = {};
        EXPECT_EQ(rados_conf_get(cluster, key, v, sizeof v), 0) << key;
        return std::stod(v);
    }
    std::string text(const char* key) const {
        char v[64] = {};
        EXPECT_EQ(rados_conf_get(cluster, key, v, sizeof v), 0) << key;
        return v;
    }
};

TEST(RbdConf, TimeoutsDefaultTo30Seconds) {
    Conf c("");
    EXPECT_EQ(c.number("client_mount_timeout"), 30);
    EXPECT_EQ(c.number("rados_mon_op_timeout"), 30);
}

TEST(RbdConf, TheFilesOwnTimeoutsWin) {
    Conf c("client_mount_timeout = 7\nrados_mon_op_timeout = 12\n");
    EXPECT_EQ(c.number("client_mount_timeout"), 7);
    EXPECT_EQ(c.number("rados_mon_op_timeout"), 12);
}

TEST(RbdConf, TheCacheWritesBackFromTheStart) {
    Conf c("");
    EXPECT_EQ(c.text("rbd_cache_writethrough_until_flush"), "false");
}

TEST(RbdConf, PartialDiscardIsNeverSkipped) {
    Conf c("rbd_skip_partial_discard = true\n");
    EXPECT_EQ(c.text("rbd_skip_partial_discard"), "false");
}

}  // namespace
}  // namespace vstor::backends
