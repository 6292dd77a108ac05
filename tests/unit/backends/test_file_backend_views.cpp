// A file LUN in memory (/dev/shm) lends its blocks (FileBackend::read_view): the lent bytes are
// pread's, holes are never lent (reading one through the mapping would allocate it), a view
// outlives its LUN and a resize, a shrink waits for the views past the new end, and a file
// truncated by someone else under a live view fails the send (EFAULT) instead of crashing.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <future>
#include <random>
#include <vector>

#include "backends/file/file_backend.hpp"
#include "scsi/sync_io.hpp"
#include "test_data.hpp"

namespace vstor::backends {
namespace {

constexpr std::uint64_t kMiB = 1u << 20;

class FileViews : public ::testing::Test {
protected:
    void SetUp() override {
        struct statfs fs {};
        if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC) GTEST_SKIP() << "no tmpfs at /dev/shm";
        dir = std::filesystem::path("/dev/shm") /
              ("vstor-views-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir);
        path = (dir / "disk.img").string();
    }
    void TearDown() override {
        b.reset();
        if (!dir.empty()) std::filesystem::remove_all(dir);
    }
    void open(std::uint64_t size) {
        FileOptions o;
        o.path = path;
        o.size_bytes = size;
        std::string err;
        b = FileBackend::open(o, err);
        ASSERT_TRUE(b) << err;
        ASSERT_TRUE(b->is_memory_file());
    }
    IoStatus write(std::uint64_t off, const std::vector<std::byte>& d) {
        return util::wait_io([&](IoCallback cb) { b->write(off / 512, d, false, std::move(cb)); });
    }
    std::vector<std::byte> pread(std::uint64_t off, std::uint64_t len) const {
        std::vector<std::byte> d(len);
        const int fd = ::open(path.c_str(), O_RDONLY);
        EXPECT_EQ(::pread(fd, d.data(), len, static_cast<off_t>(off)), static_cast<ssize_t>(len));
        ::close(fd);
        return d;
    }
    std::shared_ptr<const DataView> view(std::uint64_t off, std::uint64_t len) {
        return b->read_view(off / 512, len / 512);
    }
    static std::vector<std::byte> bytes(const DataView& v) {  // read in user space, as TLS would
        std::vector<std::byte> out;
        for (auto p : v.pieces) out.insert(out.end(), p.begin(), p.end());
        return out;
    }
    std::uint64_t allocated() const { return test::allocated_bytes(path); }

    std::filesystem::path dir;
    std::string path;
    std::unique_ptr<FileBackend> b;
};

std::vector<std::byte> random_bytes(std::size_t n, unsigned seed) { return test::random_bytes<std::byte>(n, seed); }

TEST_F(FileViews, LentBytesArePreadsForRandomRanges) {
    open(16 * kMiB);
    ASSERT_EQ(write(0, random_bytes(12 * kMiB, 1)), IoStatus::ok);  // the last 4 MiB stay a hole
    std::mt19937_64 rng(2);
    int lent = 0;
    for (int i = 0; i < 400; ++i) {
        const std::uint64_t len = (1 + rng() % 2048) * 512;
        const std::uint64_t off = rng() % (16 * kMiB - len + 1) / 512 * 512;
        const auto v = view(off, len);
        const bool in_data = off + len <= 12 * kMiB;
        ASSERT_EQ(v != nullptr, in_data) << "offset " << off << " length " << len;
        if (!v) continue;
        ++lent;
        ASSERT_EQ(bytes(*v), pread(off, len)) << "offset " << off << " length " << len;
    }
    EXPECT_GT(lent, 200);
    EXPECT_EQ(b->views_lent(), static_cast<std::uint64_t>(lent));
    // Writes go to the same page cache: a live view shows them (as the contract allows).
    const auto v = view(kMiB, kMiB);
    ASSERT_TRUE(v);
    const auto fresh = random_bytes(64 * 1024, 3);
    ASSERT_EQ(write(kMiB + 4096, fresh), IoStatus::ok);
    EXPECT_EQ(bytes(*v), pread(kMiB, kMiB));
}

TEST_F(FileViews, HolesAreNotLentAndReadingThemAllocatesNothing) {
    open(64 * kMiB);
    ASSERT_EQ(write(32 * kMiB, random_bytes(kMiB, 4)), IoStatus::ok);
    ASSERT_EQ(write(40 * kMiB + 8192, random_bytes(512, 5)), IoStatus::ok);  // one block in a hole
    const auto before = allocated();
    int lent = 0;
    for (std::uint64_t off = 0; off < 64 * kMiB; off += kMiB) {  // end to end, as a client would
        std::vector<std::byte> d(kMiB);
        if (const auto v = view(off, kMiB)) {
            ++lent;
            d = bytes(*v);
        } else {
            ASSERT_EQ(util::wait_io([&](IoCallback cb) { b->read(off / 512, d, std::move(cb)); }), IoStatus::ok);
        }
        ASSERT_EQ(d, pread(off, kMiB)) << off;
    }
    EXPECT_GE(lent, 1);  // the MiB written whole; the one with a single block has holes
    EXPECT_LE(lent, 2);  // (unless tmpfs gave it a huge page, which leaves it no hole)
    EXPECT_EQ(allocated(), before);
    // The hazard the check avoids: a hole read through a shared mapping of the file fills it.
    const int fd = ::open(path.c_str(), O_RDONLY);
    auto* m = static_cast<const volatile char*>(::mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0));
    ASSERT_NE(m, MAP_FAILED);
    const char first = m[0];  // a read fault on the hole
    EXPECT_EQ(first, 0);
    EXPECT_EQ(allocated(), before + 4096);
    ::munmap(const_cast<char*>(m), 4096);
    ::close(fd);
}

TEST_F(FileViews, AViewOutlivesItsLunAndAGrow) {
    open(8 * kMiB);
    const auto data = random_bytes(8 * kMiB, 6);
    ASSERT_EQ(write(0, data), IoStatus::ok);
    const auto tail = view(7 * kMiB, kMiB);
    ASSERT_TRUE(tail);
    ASSERT_EQ(b->resize(32 * kMiB / 512), IoStatus::ok);  // a new mapping; the old one stays
    EXPECT_FALSE(view(16 * kMiB, kMiB));                  // the new part is a hole
    const auto more = random_bytes(kMiB, 7);
    ASSERT_EQ(write(16 * kMiB, more), IoStatus::ok);
    const auto grown = view(16 * kMiB, kMiB);
    ASSERT_TRUE(grown);
    EXPECT_EQ(bytes(*grown), more);
    b.reset();  // the LUN is removed: the backend is gone, its views are not
    EXPECT_EQ(bytes(*tail), std::vector<std::byte>(data.begin() + 7 * kMiB, data.end()));
    EXPECT_EQ(bytes(*grown), more);
}

TEST_F(FileViews, AShrinkWaitsForTheViewsOfTheOldSize) {
    open(8 * kMiB);
    ASSERT_EQ(write(0, random_bytes(8 * kMiB, 8)), IoStatus::ok);
    auto tail = view(7 * kMiB, kMiB);
    ASSERT_TRUE(tail);
    auto shrink = std::async(std::launch::async, [&] { return b->resize(4 * kMiB / 512); });
    EXPECT_EQ(shrink.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
    EXPECT_FALSE(view(0, kMiB));  // nothing is lent meanwhile: reads are copied
    EXPECT_EQ(bytes(*tail), pread(7 * kMiB, kMiB));  // still readable: the file is still whole
    tail.reset();  // sent
    EXPECT_EQ(shrink.get(), IoStatus::ok);
    EXPECT_EQ(std::filesystem::file_size(path), 4 * kMiB);
    EXPECT_TRUE(view(0, kMiB));  // lent again, from the new mapping
    EXPECT_FALSE(view(3 * kMiB + 512 * 1024, kMiB));  // past the end
}

TEST_F(FileViews, ATruncationUnderALiveViewFailsTheSendAndIsNotLentAgain) {
    open(8 * kMiB);
    ASSERT_EQ(write(0, random_bytes(8 * kMiB, 9)), IoStatus::ok);
    const auto tail = view(6 * kMiB, 2 * kMiB);
    ASSERT_TRUE(tail);
    ASSERT_EQ(::truncate(path.c_str(), 4 * kMiB), 0);  // someone else shrinks the image
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    iovec io{const_cast<std::byte*>(tail->pieces[0].data()), tail->pieces[0].size()};
    msghdr msg{};
    msg.msg_iov = &io;
    msg.msg_iovlen = 1;
    errno = 0;
    const ssize_t sent = ::sendmsg(sv[0], &msg, MSG_DONTWAIT);  // the kernel's copy, as NBD sends
    const int err = errno;
    EXPECT_EQ(sent, -1);
    EXPECT_EQ(err, EFAULT);
    ::close(sv[0]);
    ::close(sv[1]);
    EXPECT_FALSE(view(6 * kMiB, kMiB));  // the pages are gone: not lent again
    std::vector<std::byte> d(kMiB);
    EXPECT_EQ(util::wait_io([&](IoCallback cb) { b->read(6 * kMiB / 512, d, std::move(cb)); }),
              IoStatus::medium_error);
    EXPECT_TRUE(view(0, kMiB));  // what is left is still lent
}

TEST_F(FileViews, AFileOnDiskIsNotLent) {
    std::filesystem::remove_all(dir);  // SetUp's, in /dev/shm
    dir = std::filesystem::current_path() / ("vstor-views-disk-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    path = (dir / "disk.img").string();
    FileOptions o;
    o.path = path;
    o.size_bytes = 4 * kMiB;
    std::string err;
    b = FileBackend::open(o, err);
    ASSERT_TRUE(b) << err;
    if (b->is_memory_file()) GTEST_SKIP() << "the build directory is in memory";
    ASSERT_EQ(write(0, random_bytes(kMiB, 10)), IoStatus::ok);
    EXPECT_FALSE(view(0, kMiB));  // a page-cache miss there would be a disk read in the sender
}

}  // namespace
}  // namespace vstor::backends
