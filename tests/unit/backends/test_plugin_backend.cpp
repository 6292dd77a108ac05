// Plugins (include/vstor/plugin.h) loaded from the C test plugins in tests/plugins: data through
// an Adapter, the ABI version rules, the load errors by name, and errno -> sense.
#include <gtest/gtest.h>

#include "backends/factory.hpp"
#include "config/lun_spec.hpp"
#include "spec_backend.hpp"

namespace vstor::test {
namespace {

std::string plugin_path(const std::string& name) { return std::string(VSTOR_TEST_PLUGIN_DIR) + "/" + name + ".so"; }

std::shared_ptr<Backend> open_plugin(const std::string& name, std::string& error, SpecParams params = {}) {
    return open_spec("plugin", plugin_path(name), error, std::move(params));
}

class PluginBackendTest : public SpecBackendTest {
protected:
    void add(std::uint16_t lun, const std::string& name, SpecParams params = {}) {
        add_spec(lun, "plugin", plugin_path(name), std::move(params));
    }
};

TEST_F(PluginBackendTest, RamdiskStoresWhatIsWrittenAndNamesItself) {
    add(1, "ramdisk_plugin", {{"size", "8M"}, {"serial", "rd-0042"}});
    std::vector<std::uint8_t> data(8 * 512);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
    ASSERT_EQ(send_cdb(rw10(0x2a, 100, 8), 1, 0, data).status(), 0);
    auto r = send_cdb(rw10(0x28, 100, 8), 1, static_cast<std::uint32_t>(data.size()));
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, data);
    auto cap = send({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 8);
    EXPECT_EQ((cap.data[0] << 24 | cap.data[1] << 16 | cap.data[2] << 8 | cap.data[3]) + 1, (8 << 20) / 512);
    auto inq = send({0x12, 0, 0, 0, 96, 0}, 1, 96);
    EXPECT_EQ(std::string(inq.data.begin() + 8, inq.data.begin() + 16), "VSTORTST");
    EXPECT_EQ(std::string(inq.data.begin() + 16, inq.data.begin() + 32), "RAMDISK-PLUGIN  ");
    auto vpd = send({0x12, 1, 0x80, 0, 255, 0}, 1, 255);
    EXPECT_EQ(std::string(vpd.data.begin() + 4, vpd.data.begin() + 4 + vpd.data[3]), "rd-0042");
}

TEST_F(PluginBackendTest, OldSmallerStructLoadsReadOnly) {
    add(1, "old_abi_plugin");
    auto r = send_cdb(rw10(0x28, 5, 1), 1, 4096);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, std::vector<std::uint8_t>(4096, 5));
    auto w = send_cdb(rw10(0x2a, 5, 1), 1, 0, std::vector<std::uint8_t>(4096, 1));
    EXPECT_EQ(w.key(), 0x07);  // DATA PROTECT: no pwrite in the old struct
}

TEST(PluginLoad, ErrorsNameTheProblem) {
    std::string error;
    EXPECT_FALSE(open_plugin("future_abi_plugin", error));
    EXPECT_NE(error.find("built for plugin API version 99"), std::string::npos) << error;
    EXPECT_FALSE(open_plugin("no_such_plugin", error));
    EXPECT_NE(error.find("no such file"), std::string::npos) << error;
    EXPECT_FALSE(open_plugin("not_a_plugin", error));
    EXPECT_NE(error.find("does not define vstor_plugin_init"), std::string::npos) << error;
    EXPECT_FALSE(open_plugin("errors_plugin", error, {{"colour", "red"}}));
    EXPECT_NE(error.find("rejected colour=red: errors plugin takes no keys"), std::string::npos) << error;
    EXPECT_FALSE(open_plugin("ramdisk_plugin", error, {{"size", "lots"}}));
    EXPECT_NE(error.find("size must be bytes"), std::string::npos) << error;
}

TEST_F(PluginBackendTest, ErrnoBecomesTheRightSense) {
    add(1, "errors_plugin");
    expect_errno_senses(1);
}

TEST(PluginLunSpec, KeysGoToThePluginAndSaveBack) {
    std::string error;
    auto s = cli::parse_lun_spec("plugin:/opt/p.so,size=1G,ro,mode=fast,name=db,lun=3", error);
    ASSERT_TRUE(s) << error;
    EXPECT_EQ(s->path, "/opt/p.so");
    EXPECT_TRUE(s->read_only);
    EXPECT_EQ(s->name, "db");
    const std::vector<std::pair<std::string, std::string>> want{{"size", "1G"}, {"mode", "fast"}};
    EXPECT_EQ(s->plugin_params, want);
    auto again = cli::parse_lun_spec(cli::format_lun_spec(*s), error);
    ASSERT_TRUE(again) << error;
    EXPECT_EQ(again->plugin_params, want);
    EXPECT_EQ(cli::format_lun_spec(*again), cli::format_lun_spec(*s));
    EXPECT_FALSE(cli::parse_lun_spec("plugin:/opt/p.so,thick", error));
}

}  // namespace
}  // namespace vstor::test
