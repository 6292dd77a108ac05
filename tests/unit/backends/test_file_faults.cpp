// File backend faults are visible: an image truncated or deleted underneath a running server is
// noticed, reads past the new end are MEDIUM ERROR instead of zeroes with GOOD, writes to a
// deleted image are refused and its flush fails (issue 13 section 7). Both I/O paths: io_uring and
// the worker threads.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>
#include <vector>

#include "backends/file/file_backend.hpp"
#include "scsi/sync_io.hpp"
#include "vstor/adapter.hpp"

namespace vstor::backends {
namespace {

class FileFaults : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("vstor-faults-" + std::to_string(::getpid()) + "-" + std::to_string(GetParam()));
        std::filesystem::create_directories(dir);
        path = (dir / "disk.img").string();
        FileOptions o;
        o.path = path;
        o.size_bytes = 1 << 20;
        o.io_uring = GetParam();
        std::string err;
        b = FileBackend::open(o, err);
        ASSERT_TRUE(b) << err;
    }
    void TearDown() override {
        b.reset();
        std::filesystem::remove_all(dir);
    }
    IoStatus write(std::uint64_t lba, std::size_t blocks, std::byte fill) {
        std::vector<std::byte> d(blocks * 512, fill);
        return util::wait_io([&](IoCallback cb) { b->write(lba, d, false, std::move(cb)); });
    }
    IoStatus read(std::uint64_t lba, std::size_t blocks, std::vector<std::byte>& d) {
        d.assign(blocks * 512, std::byte{0x55});
        return util::wait_io([&](IoCallback cb) { b->read(lba, d, std::move(cb)); });
    }
    IoStatus flush() {
        return util::wait_io([&](IoCallback cb) { b->flush(std::move(cb)); });
    }

    std::filesystem::path dir;
    std::string path;
    std::unique_ptr<FileBackend> b;
};

TEST_P(FileFaults, ReadsPastATruncatedEndAreMediumErrors) {
    ASSERT_EQ(write(0, 2048, std::byte{0xab}), IoStatus::ok);  // the whole 1 MiB
    ASSERT_EQ(::truncate(path.c_str(), 256 * 1024), 0);         // someone else shrinks the image
    std::vector<std::byte> d;
    // Before: zeroes with IoStatus::ok (GOOD). Now the first read past the end notices.
    EXPECT_EQ(read(1024, 8, d), IoStatus::medium_error);
    EXPECT_EQ(read(510, 4, d), IoStatus::medium_error);  // straddles the new end
    EXPECT_EQ(read(0, 8, d), IoStatus::ok);              // what is left still reads
    EXPECT_EQ(d[0], std::byte{0xab});
    // Writes past the end do not silently grow a sparse file of zeroes behind them.
    EXPECT_EQ(write(1500, 8, std::byte{1}), IoStatus::medium_error);
    EXPECT_EQ(std::filesystem::file_size(path), 256u * 1024);
    EXPECT_EQ(write(8, 8, std::byte{2}), IoStatus::ok);
    // Restored to full size (e.g. by the operator): I/O everywhere works again.
    ASSERT_EQ(::truncate(path.c_str(), 1 << 20), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the periodic check
    EXPECT_EQ(read(0, 1, d), IoStatus::ok);
    EXPECT_EQ(read(1024, 8, d), IoStatus::ok);
}

TEST_P(FileFaults, DeletedImageRefusesWritesAndFailsFlush) {
    ASSERT_EQ(write(0, 8, std::byte{0xcd}), IoStatus::ok);
    ASSERT_EQ(flush(), IoStatus::ok);
    ASSERT_EQ(::unlink(path.c_str()), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // noticed within a second of I/O
    std::vector<std::byte> d;
    EXPECT_EQ(read(0, 8, d), IoStatus::ok);  // reads go on, so the data can be copied off
    EXPECT_EQ(d[0], std::byte{0xcd});
    EXPECT_EQ(write(16, 8, std::byte{1}), IoStatus::read_only);  // would be lost when vstor exits
    EXPECT_EQ(flush(), IoStatus::medium_error);                  // nothing durable to flush to
}

// The final flush at shutdown reports the failure (serve then exits non-zero); before, flush_all
// returned nothing and `serve` exited 0.
TEST_P(FileFaults, FinalFlushOfADeletedImageFails) {
    auto adapter = Adapter::create();
    const auto tid = adapter->add_target("iqn.2026-11.org.vstor:faults");
    ASSERT_TRUE(static_cast<bool>(tid.value));
    std::shared_ptr<Backend> shared = std::move(b);
    ASSERT_TRUE(static_cast<bool>(adapter->add_lun(*tid.value, 0, shared, LunOptions{})));
    EXPECT_TRUE(adapter->flush_all());
    ASSERT_EQ(::unlink(path.c_str()), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    EXPECT_FALSE(adapter->flush_all());
}

INSTANTIATE_TEST_SUITE_P(IoPaths, FileFaults, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "io_uring" : "worker_threads"; });

}  // namespace
}  // namespace vstor::backends
