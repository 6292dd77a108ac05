// The file backend on a connection's event loop: requests that cannot finish inline go to that
// loop's io_uring and complete on the same loop thread, never inside the call that started them;
// a turn that queues more than the ring holds spills to the backend's own ring; the loop still
// ends once nothing is in flight.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <thread>
#include <vector>

#include "backends/file/file_backend.hpp"
#include "util/event_loops.hpp"

namespace vstor::backends {
namespace {

std::vector<std::byte> ring_pattern(std::size_t n, int seed) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(seed * 7 + static_cast<int>(i) * 13);
    return v;
}

class FileLoopRing : public ::testing::Test {
protected:
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() / ("vstor-loopring-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        FileOptions o;
        o.path = (dir / "disk.img").string();
        o.size_bytes = 16 << 20;
        o.inline_io = false;  // every request queued, so the ring is what is tested
        std::string err;
        b = FileBackend::open(o, err);
        ASSERT_TRUE(b) << err;
        if (!b->uses_io_uring()) GTEST_SKIP() << "io_uring unavailable here";
    }
    void TearDown() override {
        b.reset();
        std::filesystem::remove_all(dir);
    }

    // Runs `n` requests from one handler on the loop; counts completions on the loop thread and
    // completions that ran inside the call that started them.
    struct Tally {
        std::atomic<int> ok{0}, on_loop{0}, inside{0};
    };
    void run_on_loop(util::EventLoops& loops, int n, Tally& t, std::vector<std::vector<std::byte>>& bufs, bool write) {
        std::promise<void> all, issued;
        std::atomic<int> left{n};
        std::vector<char> in_call(static_cast<std::size_t>(n), 0);  // touched on the loop thread only
        asio::post(loops.first(), [&] {
            const auto loop_thread = std::this_thread::get_id();
            EXPECT_EQ(util::EventLoops::current(), &loops.first());
            for (int i = 0; i < n; ++i) {
                in_call[static_cast<std::size_t>(i)] = 1;
                auto done = [&, loop_thread, i](IoStatus s) {
                    if (s == IoStatus::ok) ++t.ok;
                    if (std::this_thread::get_id() == loop_thread) {
                        ++t.on_loop;
                        if (in_call[static_cast<std::size_t>(i)]) ++t.inside;
                    }
                    if (--left == 0) all.set_value();
                };
                auto& buf = bufs[static_cast<std::size_t>(i)];
                if (write) b->write(static_cast<std::uint64_t>(i) * 8, buf, i % 5 == 0, done);
                else b->read(static_cast<std::uint64_t>(i) * 8, buf, done);
                in_call[static_cast<std::size_t>(i)] = 0;
            }
            issued.set_value();
        });
        ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
        issued.get_future().wait();  // the handler is done with the locals above
    }

    std::filesystem::path dir;
    std::unique_ptr<FileBackend> b;
};

TEST_F(FileLoopRing, CompletionsRunOnTheLoopThatStartedThem) {
    EXPECT_EQ(util::EventLoops::current(), nullptr);  // a test thread runs no loop
    util::EventLoops loops(1);
    loops.start();
    constexpr int kN = 64;
    std::vector<std::vector<std::byte>> data, back(kN, std::vector<std::byte>(4096));
    for (int i = 0; i < kN; ++i) data.push_back(ring_pattern(4096, i));
    Tally w, r;
    run_on_loop(loops, kN, w, data, true);
    run_on_loop(loops, kN, r, back, false);
    EXPECT_EQ(w.ok, kN);
    EXPECT_EQ(r.ok, kN);
    EXPECT_EQ(w.on_loop, kN);
    EXPECT_EQ(r.on_loop, kN);
    EXPECT_EQ(w.inside + r.inside, 0) << "a completion ran inside the backend call";
    EXPECT_EQ(back, data);
    loops.join();  // ends: nothing is left in flight, so the ring's eventfd is not watched
}

TEST_F(FileLoopRing, MoreThanTheRingHoldsInOneTurnSpillsOver) {
    util::EventLoops loops(1);
    loops.start();
    constexpr int kN = 1500;  // > the ring's 256 entries and its 512 in flight
    std::vector<std::vector<std::byte>> data, back(kN, std::vector<std::byte>(4096));
    for (int i = 0; i < kN; ++i) data.push_back(ring_pattern(4096, i));
    Tally w, r;
    run_on_loop(loops, kN, w, data, true);
    run_on_loop(loops, kN, r, back, false);
    EXPECT_EQ(w.ok, kN);
    EXPECT_EQ(r.ok, kN);
    EXPECT_EQ(w.inside + r.inside, 0);
    EXPECT_GE(r.on_loop, 512);  // at least the loop ring's share came back on the loop
    for (int i = 0; i < kN; ++i) ASSERT_EQ(back[static_cast<std::size_t>(i)], data[static_cast<std::size_t>(i)]) << i;
    loops.join();
}

}  // namespace
}  // namespace vstor::backends
