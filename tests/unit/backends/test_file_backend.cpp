// File backend: sparse creation, data round trip, hole punching, allocation map, locking,
// read-only, resize, and durability of acknowledged FUA writes across SIGKILL.
#include <gtest/gtest.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <atomic>
#include <thread>
#include <liburing.h>
#include <set>
#include <vector>

#include "backends/file/file_backend.hpp"
#include "backends/mem/mem_backend.hpp"
#include "scsi/sync_io.hpp"
#include "test_data.hpp"

namespace vstor::backends {
namespace {

class FileBackendTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("vstor-file-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir);
        path = (dir / "disk.img").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir); }

    std::unique_ptr<FileBackend> open(std::uint64_t size, bool ro = false) {
        FileOptions o;
        o.path = path;
        o.size_bytes = size;
        o.read_only = ro;
        std::string err;
        auto b = FileBackend::open(o, err);
        EXPECT_TRUE(b) << err;
        return b;
    }
    static IoStatus write(Backend& b, std::uint64_t lba, const std::vector<std::byte>& d, bool fua = false) {
        return util::wait_io([&](IoCallback cb) { b.write(lba, d, fua, std::move(cb)); });
    }
    static IoStatus read(Backend& b, std::uint64_t lba, std::vector<std::byte>& d) {
        return util::wait_io([&](IoCallback cb) { b.read(lba, d, std::move(cb)); });
    }
    std::uint64_t allocated() const { return test::allocated_bytes(path); }

    std::filesystem::path dir;
    std::string path;
};

std::vector<std::byte> file_pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(seed + i * 31);
    return v;
}

TEST_F(FileBackendTest, CreatesSparseImageAndRoundTripsData) {
    auto b = open(64 << 20);
    EXPECT_EQ(b->block_count(), (64u << 20) / 512);
    EXPECT_LT(allocated(), 1u << 20);  // sparse
    const auto d = file_pattern(8192, 7);
    ASSERT_EQ(write(*b, 100, d, true), IoStatus::ok);
    std::vector<std::byte> r(8192);
    ASSERT_EQ(read(*b, 100, r), IoStatus::ok);
    EXPECT_EQ(r, d);
}

// Every I/O path (inline: a file in memory or a page-cache hit; io_uring where the kernel allows
// it; worker threads otherwise) moves the same bytes, including many concurrent requests and FUA
// writes, on a disk's file system and on tmpfs (/dev/shm).
void exercise_paths(const std::string& path) {
    struct statfs fs {};
    ASSERT_EQ(::statfs(std::filesystem::path(path).parent_path().c_str(), &fs), 0);
    const bool memory_fs = fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC;
    io_uring probe{};
    const bool kernel_has_uring = io_uring_queue_init(4, &probe, 0) == 0;
    if (kernel_has_uring) io_uring_queue_exit(&probe);
    for (const bool use_uring : {true, false})
        for (const bool use_inline : {true, false}) {
            SCOPED_TRACE(std::string(use_uring ? "io_uring" : "worker threads") + (use_inline ? ", inline" : ""));
            std::filesystem::remove(path);
            FileOptions o;
            o.path = path;
            o.size_bytes = 16 << 20;
            o.io_uring = use_uring;
            o.inline_io = use_inline;
            std::string err;
            auto b = FileBackend::open(o, err);
            ASSERT_TRUE(b) << err;
            EXPECT_EQ(b->uses_io_uring(), use_uring && kernel_has_uring);
            EXPECT_EQ(b->is_memory_file(), memory_fs && use_inline);
            constexpr int kN = 512;  // more than the ring holds: some fall back to the threads
            std::vector<std::vector<std::byte>> data;
            for (int i = 0; i < kN; ++i) data.push_back(file_pattern(4096, static_cast<std::uint8_t>(i + use_inline)));
            std::atomic<int> pending{kN}, failed{0};
            for (int i = 0; i < kN; ++i)
                b->write(static_cast<std::uint64_t>(i) * 8, data[static_cast<std::size_t>(i)], i % 7 == 0,
                         [&](IoStatus s) {
                             if (s != IoStatus::ok) ++failed;
                             --pending;
                         });
            while (pending.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
            EXPECT_EQ(failed.load(), 0);
            ASSERT_EQ(util::wait_io([&](IoCallback cb) { b->flush(std::move(cb)); }), IoStatus::ok);
            for (int i = 0; i < kN; i += 37) {
                std::vector<std::byte> r(4096);
                ASSERT_EQ(util::wait_io([&](IoCallback cb) { b->read(static_cast<std::uint64_t>(i) * 8, r, std::move(cb)); }),
                          IoStatus::ok);
                EXPECT_EQ(r, data[static_cast<std::size_t>(i)]) << "block " << i;
            }
            // A 1 MiB read across the last 16 blocks written and the hole after them.
            std::vector<std::byte> big(1 << 20);
            ASSERT_EQ(util::wait_io([&](IoCallback cb) { b->read((kN - 16) * 8, big, std::move(cb)); }), IoStatus::ok);
            EXPECT_TRUE(std::equal(data[kN - 15].begin(), data[kN - 15].end(), big.begin() + 4096));
            EXPECT_TRUE(std::all_of(big.begin() + 16 * 4096, big.end(), [](std::byte x) { return x == std::byte{0}; }));
        }
    std::filesystem::remove(path);
}

TEST_F(FileBackendTest, EveryIoPathAgrees) { exercise_paths(path); }

TEST_F(FileBackendTest, EveryIoPathAgreesOnTmpfs) {
    const std::filesystem::path shm = "/dev/shm";
    if (!std::filesystem::is_directory(shm)) GTEST_SKIP() << "no /dev/shm";
    exercise_paths((shm / ("vstor-file-test-" + std::to_string(::getpid()) + ".img")).string());
}

TEST_F(FileBackendTest, UnmapPunchesHolesThatReadAsZeroes) {
    auto b = open(64 << 20);
    const auto d = file_pattern(1 << 20, 3);
    ASSERT_EQ(write(*b, 0, d), IoStatus::ok);
    ASSERT_EQ(util::wait_io([&](IoCallback cb) { b->flush(std::move(cb)); }), IoStatus::ok);
    const auto before = allocated();
    ASSERT_EQ(util::wait_io([&](IoCallback cb) { b->unmap(0, 2048, std::move(cb)); }), IoStatus::ok);
    EXPECT_LT(allocated(), before);
    std::vector<std::byte> r(1 << 20);
    ASSERT_EQ(read(*b, 0, r), IoStatus::ok);
    EXPECT_EQ(r, std::vector<std::byte>(1 << 20, std::byte{0}));
}

TEST_F(FileBackendTest, AllocationStatusFollowsWrites) {
    auto b = open(16 << 20);
    ASSERT_EQ(write(*b, 8192, file_pattern(1 << 20, 1)), IoStatus::ok);
    const auto ext = b->allocation_status(0, b->block_count());
    ASSERT_FALSE(ext.empty());
    bool saw_mapped = false;
    std::uint64_t covered = 0;
    for (const auto& e : ext) {
        covered += e.count;
        if (e.mapped) {
            saw_mapped = true;
            EXPECT_LE(e.lba, 8192u);
            EXPECT_GE(e.lba + e.count, 8192u + 2048);
        }
    }
    EXPECT_TRUE(saw_mapped);
    EXPECT_EQ(covered, b->block_count());
}

TEST_F(FileBackendTest, SecondReadWriteOpenIsRefusedClearly) {
    auto first = open(1 << 20);
    FileOptions o;
    o.path = path;
    std::string err;
    EXPECT_FALSE(FileBackend::open(o, err));
    EXPECT_NE(err.find("in use by another process"), std::string::npos) << err;
}

TEST_F(FileBackendTest, ReadOnlyRefusesWritesAndMissingImage) {
    { auto b = open(1 << 20); }
    auto ro = open(0, true);
    EXPECT_TRUE(ro->caps().read_only);
    EXPECT_EQ(write(*ro, 0, file_pattern(512, 1)), IoStatus::read_only);
    FileOptions o;
    o.path = (dir / "missing.img").string();
    o.read_only = true;
    std::string err;
    EXPECT_FALSE(FileBackend::open(o, err));
}

TEST_F(FileBackendTest, SizeMismatchIsAnErrorNotATruncation) {
    { auto b = open(1 << 20); }
    FileOptions o;
    o.path = path;
    o.size_bytes = 2 << 20;
    std::string err;
    EXPECT_FALSE(FileBackend::open(o, err));
    EXPECT_NE(err.find("not the"), std::string::npos) << err;
}

TEST_F(FileBackendTest, ResizeChangesCapacity) {
    auto b = open(1 << 20);
    ASSERT_EQ(b->resize(4096), IoStatus::ok);
    EXPECT_EQ(b->block_count(), 4096u);
}

// A child writes numbered blocks with FUA and reports each acknowledgement through a pipe; it
// is SIGKILLed mid-stream. Every acknowledged block must be intact when the image is reopened.
TEST_F(FileBackendTest, AcknowledgedFuaWritesSurviveSigkill) {
    { auto b = open(8 << 20); }
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::close(fds[0]);
        FileOptions o;
        o.path = path;
        std::string err;
        auto b = FileBackend::open(o, err);
        if (!b) ::_exit(2);
        for (std::uint32_t i = 0;; ++i) {
            const std::uint64_t lba = i % 16384;
            auto d = file_pattern(512, static_cast<std::uint8_t>(i));
            std::memcpy(d.data(), &i, sizeof i);
            if (write(*b, lba, d, true) != IoStatus::ok) ::_exit(3);
            if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(4);
        }
    }
    ::close(fds[1]);
    std::vector<std::uint32_t> acked;
    std::uint32_t i;
    while (acked.size() < 200 && ::read(fds[0], &i, sizeof i) == sizeof i) acked.push_back(i);
    ::kill(child, SIGKILL);
    while (::read(fds[0], &i, sizeof i) == sizeof i) acked.push_back(i);  // acks sent before death
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    ASSERT_GE(acked.size(), 200u);
    auto b = open(0);
    for (std::uint32_t n : acked) {
        if (n + 16384 <= acked.back()) continue;  // overwritten later by the same LBA
        std::vector<std::byte> r(512);
        ASSERT_EQ(read(*b, n % 16384, r), IoStatus::ok);
        auto want = file_pattern(512, static_cast<std::uint8_t>(n));
        std::memcpy(want.data(), &n, sizeof n);
        ASSERT_EQ(r, want) << "acknowledged write " << n << " lost";
    }
}

TEST(MemBackend, SparseAllocationGrowsAndShrinks) {
    MemBackend m(1 << 30);
    EXPECT_EQ(m.allocated_bytes(), 0u);
    std::vector<std::byte> d(4096, std::byte{1});
    ASSERT_EQ(util::wait_io([&](IoCallback cb) { m.write(1000, d, false, std::move(cb)); }), IoStatus::ok);
    EXPECT_EQ(m.allocated_bytes(), m.chunk_bytes());
    ASSERT_EQ(util::wait_io([&](IoCallback cb) { m.unmap(0, 1 << 20, std::move(cb)); }), IoStatus::ok);
    EXPECT_EQ(m.allocated_bytes(), 0u);
}

// Issue 5's memory goal at the backend: scattered 4 KiB writes cost what they write.
TEST(MemBackend, RandomSmallWritesCostWhatTheyWrite) {
    MemBackend m(1ull << 30);
    std::vector<std::byte> d(4096, std::byte{7});
    std::uint64_t x = 88172645463325252ull;  // xorshift: deterministic scatter over the LUN
    std::set<std::uint64_t> distinct;
    for (int i = 0; i < 25600; ++i) {  // 100 MiB
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const std::uint64_t lba = (x % (1u << 18)) * 8;  // 4 KiB-aligned 512-byte LBA
        distinct.insert(lba);
        ASSERT_EQ(util::wait_io([&](IoCallback cb) { m.write(lba, d, false, std::move(cb)); }), IoStatus::ok);
    }
    EXPECT_EQ(m.allocated_bytes(), distinct.size() * 4096);
    EXPECT_LE(m.allocated_bytes(), 100u << 20);
}

}  // namespace
}  // namespace vstor::backends
