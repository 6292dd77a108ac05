// util::AcceptLoop: connections are handed over, an accept that fails for want of descriptors
// backs off on a timer instead of spinning and resumes by itself, stop() leaves no work behind.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <asio.hpp>

#include <chrono>
#include <vector>

#include "sanitizers.hpp"
#include "util/accept_loop.hpp"

namespace vstor::util {
namespace {

// These tests leave no descriptor free. UBSan's vptr check opens a pipe to see whether memory is
// readable, fails with EMFILE and reports every virtual call as "invalid vptr" (seen in make asan).
// abuse.accept_emfile covers the same behaviour through the real binary in the plain build.
#if defined(VSTOR_UNDER_ASAN)
#define VSTOR_SKIP_WITHOUT_DESCRIPTORS() GTEST_SKIP() << "sanitizer runtime needs a free descriptor"
#else
#define VSTOR_SKIP_WITHOUT_DESCRIPTORS() (void)0
#endif

using asio::ip::tcp;

struct Fixture {
    asio::io_context io;
    tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
    std::vector<tcp::socket> accepted;
    AcceptLoop<tcp> loop{acceptor, "test", [this](tcp::socket s) { accepted.push_back(std::move(s)); }, {},
                         std::chrono::milliseconds(50)};

    tcp::socket connect() {
        tcp::socket c(io);
        c.connect(acceptor.local_endpoint());  // completes in the backlog, before any accept
        return c;
    }
    void run_until(std::size_t n) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        while (accepted.size() < n && std::chrono::steady_clock::now() < deadline)
            io.run_for(std::chrono::milliseconds(10));
    }
};

// Lowers the soft descriptor limit to the lowest free number, so every accept fails with EMFILE;
// `old` gets the limit to restore.
bool starve_descriptors(rlimit& old) {
    if (::getrlimit(RLIMIT_NOFILE, &old) != 0) return false;
    const int lowest_free = ::dup(0);
    if (lowest_free < 0) return false;
    ::close(lowest_free);
    rlimit tight = old;
    tight.rlim_cur = static_cast<rlim_t>(lowest_free);
    return ::setrlimit(RLIMIT_NOFILE, &tight) == 0;
}

TEST(AcceptLoop, HandsOverEveryConnection) {
    Fixture f;
    f.loop.start();
    std::vector<tcp::socket> clients;
    for (int i = 0; i < 3; ++i) clients.push_back(f.connect());
    f.run_until(3);
    EXPECT_EQ(f.accepted.size(), 3u);
    EXPECT_EQ(f.loop.failures(), 0u);
}

TEST(AcceptLoop, BacksOffWhileOutOfDescriptorsAndResumes) {
    VSTOR_SKIP_WITHOUT_DESCRIPTORS();
    Fixture f;
    f.loop.start();
    auto client = f.connect();
    rlimit old{};
    ASSERT_TRUE(starve_descriptors(old));
    f.io.run_for(std::chrono::milliseconds(300));
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    EXPECT_TRUE(f.accepted.empty());
    // About one attempt per 50 ms back-off; a spinning loop makes thousands.
    EXPECT_GE(f.loop.failures(), 2u);
    EXPECT_LE(f.loop.failures(), 12u);
    f.run_until(1);  // descriptors are free again: the waiting connection is taken
    EXPECT_EQ(f.accepted.size(), 1u);
}

TEST(AcceptLoop, StopEndsTheLoopDuringBackOff) {
    VSTOR_SKIP_WITHOUT_DESCRIPTORS();
    Fixture f;
    f.loop.start();
    auto client = f.connect();
    rlimit old{};
    ASSERT_TRUE(starve_descriptors(old));
    f.io.run_for(std::chrono::milliseconds(20));  // the first accept fails; the back-off timer waits
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);
    ASSERT_GE(f.loop.failures(), 1u);
    f.loop.stop();
    f.io.restart();
    const auto t0 = std::chrono::steady_clock::now();
    f.io.run();  // returns only when nothing is left: acceptor closed, timer cancelled
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
    EXPECT_TRUE(f.accepted.empty());
    EXPECT_FALSE(f.acceptor.is_open());
}

}  // namespace
}  // namespace vstor::util
