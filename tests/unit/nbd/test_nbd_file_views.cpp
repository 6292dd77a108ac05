// A file LUN on /dev/shm read over NBD by a real client (nbdcopy, every block, extents ignored):
// the large reads go out from the file's mapping (FileBackend::read_view), the bytes are the
// file's, and the file's holes are read as zeroes without being allocated.
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>

#include "backends/file/file_backend.hpp"
#include "live_server.hpp"

namespace vstor::nbd {
namespace {

constexpr std::uint64_t kViewMiB = 1u << 20;

std::uint64_t allocated(const std::string& p) {
    struct stat st {};
    ::stat(p.c_str(), &st);
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

std::vector<char> slurp(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    std::vector<char> d(std::filesystem::file_size(p));
    f.read(d.data(), static_cast<std::streamsize>(d.size()));
    return d;
}

class NbdFileViews : public test::LiveServerTest {
protected:
    void SetUp() override {
        struct statfs fs {};
        if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC) GTEST_SKIP() << "no tmpfs at /dev/shm";
        if (std::system("nbdcopy --version >/dev/null 2>&1") != 0) GTEST_SKIP() << "nbdcopy is not installed";
        dir = std::filesystem::path("/dev/shm") / ("vstor-nbd-views-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        image = (dir / "disk.img").string();
        // 64 MiB: 24 MiB of data, a hole, one more MiB of data at 40 MiB, a hole to the end.
        std::mt19937 rng(11);
        std::vector<char> data(25 * kViewMiB);
        for (auto& c : data) c = static_cast<char>(rng());
        {
            std::ofstream f(image, std::ios::binary);
            f.write(data.data(), 24 * kViewMiB);
            f.seekp(40 * kViewMiB);
            f.write(data.data() + 24 * kViewMiB, kViewMiB);
        }
        std::filesystem::resize_file(image, 64 * kViewMiB);
        backends::FileOptions o;
        o.path = image;
        std::string err;
        std::shared_ptr<backends::FileBackend> b = backends::FileBackend::open(o, err);
        ASSERT_TRUE(b) << err;
        file = b.get();
        const auto tid = *adapter->add_target("iqn.2026-12.org.vstor:fileviews").value;
        ASSERT_TRUE(adapter->add_lun(tid, 0, b));
        ServerConfig cfg;
        cfg.exports.push_back(ExportConfig{"disk", "", tid, 0});
        cfg.event_loops = 2;
        start_server(cfg);
    }
    void TearDown() override {
        LiveServerTest::TearDown();
        if (!dir.empty()) std::filesystem::remove_all(dir);
    }

    std::filesystem::path dir;
    std::string image;
    backends::FileBackend* file = nullptr;
};

TEST_F(NbdFileViews, NbdcopyReadsTheFileFromItsMappingAndFillsNoHole) {
    const auto before = allocated(image);
    const std::string out = (dir / "copy.img").string();
    for (const char* size : {"262144", "1048576"}) {
        const std::string cmd = "nbdcopy --no-extents --request-size=" + std::string(size) + " nbd://127.0.0.1:" +
                                std::to_string(port) + "/disk " + out;
        ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
        EXPECT_TRUE(slurp(out) == slurp(image)) << "request size " << size;
        std::filesystem::remove(out);
    }
    // 25 MiB of data: 100 reads of 256 KiB, then 25 of 1 MiB, all lent; none of the holes.
    EXPECT_GE(file->views_lent(), 125u);
    EXPECT_EQ(allocated(image), before);
}

}  // namespace
}  // namespace vstor::nbd
