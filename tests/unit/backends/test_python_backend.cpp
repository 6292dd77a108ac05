// Python plugins (`--lun python:SCRIPT.py`, src/backends/python): the example RAM disk through an
// Adapter (bytes, identity), each exception becoming the sense its errno names, load and config
// errors by name, and the --lun spec written back.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include "backends/factory.hpp"
#include "config/lun_spec.hpp"
#include "spec_backend.hpp"

namespace vstor::test {
namespace {

std::shared_ptr<Backend> open_script(const std::string& path, std::string& error, SpecParams params = {}) {
    return open_spec("python", path, error, std::move(params));
}

const std::string kRamdisk = std::string(VSTOR_SOURCE_DIR) + "/examples/python/ramdisk.py";
const std::string kErrors = std::string(VSTOR_TEST_PYTHON_DIR) + "/errors.py";

class PythonBackendTest : public SpecBackendTest {
protected:
    void add(std::uint16_t lun, const std::string& path, SpecParams params = {}) {
        add_spec(lun, "python", path, std::move(params));
    }
};

TEST_F(PythonBackendTest, RamdiskExampleStoresWhatIsWrittenAndNamesItself) {
    add(1, kRamdisk, {{"size", "8M"}, {"serial", "py-0042"}});
    std::vector<std::uint8_t> data(8 * 512);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
    ASSERT_EQ(send_cdb(rw10(0x2a, 100, 8), 1, 0, data).status(), 0);
    auto r = send_cdb(rw10(0x28, 100, 8), 1, static_cast<std::uint32_t>(data.size()));
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, data);
    auto zeroes = send_cdb(rw10(0x28, 2000, 2), 1, 1024);
    ASSERT_EQ(zeroes.status(), 0);
    EXPECT_EQ(zeroes.data, std::vector<std::uint8_t>(1024, 0));
    auto cap = send({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1, 8);
    EXPECT_EQ((cap.data[0] << 24 | cap.data[1] << 16 | cap.data[2] << 8 | cap.data[3]) + 1, (8 << 20) / 512);
    auto inq = send({0x12, 0, 0, 0, 96, 0}, 1, 96);
    EXPECT_EQ(std::string(inq.data.begin() + 8, inq.data.begin() + 16), "VSTORPY ");
    EXPECT_EQ(std::string(inq.data.begin() + 16, inq.data.begin() + 32), "RAMDISK         ");
    auto vpd = send({0x12, 1, 0x80, 0, 255, 0}, 1, 255);
    EXPECT_EQ(std::string(vpd.data.begin() + 4, vpd.data.begin() + 4 + vpd.data[3]), "py-0042");
}

TEST_F(PythonBackendTest, TwoLunsOfOneScriptKeepTheirOwnDisks) {
    add(1, kRamdisk, {{"size", "1M"}});
    add(2, kRamdisk, {{"size", "2M"}});
    clear_ua(1);  // adding LUN 2 raised a unit attention on LUN 1
    ASSERT_EQ(send_cdb(rw10(0x2a, 0, 1), 1, 0, std::vector<std::uint8_t>(512, 0x11)).status(), 0);
    auto r = send_cdb(rw10(0x28, 0, 1), 2, 512);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, std::vector<std::uint8_t>(512, 0));
    auto cap = send({0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 2, 8);
    EXPECT_EQ((cap.data[0] << 24 | cap.data[1] << 16 | cap.data[2] << 8 | cap.data[3]) + 1, (2 << 20) / 512);
}

TEST_F(PythonBackendTest, ExceptionErrnoBecomesTheRightSense) {
    add(1, kErrors);
    expect_errno_senses(1);
}

// Writes `source` as NAME.py in a fresh directory and returns its path.
std::string script(const std::string& name, const std::string& source) {
    const auto dir = std::filesystem::temp_directory_path() / ("vstor-python-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const auto path = dir / (name + ".py");
    std::ofstream(path) << source;
    return path.string();
}

TEST(PythonLoad, ErrorsNameTheProblem) {
    std::string error;
    EXPECT_FALSE(open_script("/nonexistent/disk.py", error));
    EXPECT_NE(error.find("python /nonexistent/disk.py: no such file"), std::string::npos) << error;
    EXPECT_FALSE(open_script(script("syntax", "def open(readonly)\n  pass\n"), error));
    EXPECT_NE(error.find("SyntaxError"), std::string::npos) << error;
    EXPECT_FALSE(open_script(script("raises", "import nosuchmodule_vstor\n"), error));
    EXPECT_NE(error.find("ModuleNotFoundError: No module named 'nosuchmodule_vstor'"), std::string::npos) << error;
    EXPECT_FALSE(open_script(script("nosize", "def open(ro): return 1\ndef pread(h, b, o, f): pass\n"), error));
    EXPECT_NE(error.find("plugin 'nosize' has no get_size callback (required)"), std::string::npos) << error;
    EXPECT_FALSE(open_script(script("model", "thread_model = 'whenever'\n"), error));
    EXPECT_NE(error.find("thread_model must be"), std::string::npos) << error;
    EXPECT_FALSE(open_script(kRamdisk, error, {{"colour", "red"}}));
    EXPECT_NE(error.find("plugin 'ramdisk': rejected colour=red: ValueError: unknown key 'colour' (size, serial) "
                         "(ramdisk.py:"),
              std::string::npos)
        << error;
    const std::string refusing = script("refusing", "import errno\ndef open(ro): raise OSError(errno.EACCES, 'nope')\n"
                                                    "def get_size(h): return 512\ndef pread(h, b, o, f): pass\n");
    EXPECT_FALSE(open_script(refusing, error));
    EXPECT_NE(error.find("open failed: PermissionError: [Errno 13] nope"), std::string::npos) << error;
}

TEST(PythonLunSpec, KeysGoToTheScriptAndSaveBack) {
    std::string error;
    auto s = cli::parse_lun_spec("python:/opt/disk.py,size=1G,ro,mode=fast,name=db", error);
    ASSERT_TRUE(s) << error;
    EXPECT_EQ(s->kind, "python");
    EXPECT_EQ(s->path, "/opt/disk.py");
    EXPECT_TRUE(s->read_only);
    const std::vector<std::pair<std::string, std::string>> want{{"size", "1G"}, {"mode", "fast"}};
    EXPECT_EQ(s->plugin_params, want);
    EXPECT_EQ(cli::format_lun_spec(*s), "python:/opt/disk.py,size=1G,mode=fast,ro,name=db");
    EXPECT_FALSE(cli::parse_lun_spec("python:/opt/disk.py,thick", error));
}

}  // namespace
}  // namespace vstor::test
