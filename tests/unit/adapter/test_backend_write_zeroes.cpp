// The default Backend::write_zeroes keeps contract v1's promise: vstor never calls into a backend
// from inside that backend's own `done`, even when the backend completes on its own thread.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "util/thread_pool.hpp"
#include "vstor/backend.hpp"

namespace vstor::test {
namespace {

// Completes every write on its one worker thread, and counts writes started from that thread:
// such a backend (a queue served by one thread that waits for its work) would deadlock there.
class OwnThreadBackend final : public Backend {
public:
    explicit OwnThreadBackend(std::uint64_t blocks) : data_(blocks * 512, std::byte{0xAA}) {}
    std::string kind() const override { return "own-thread"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return data_.size() / 512; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) override {
        std::memcpy(buf.data(), data_.data() + lba * 512, buf.size());
        done(IoStatus::ok);
    }
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool, IoCallback done) override {
        if (std::this_thread::get_id() == worker_id_) ++reentered_;
        ++writes_;
        worker_.post([this, lba, buf, done = std::move(done)] {
            worker_id_ = std::this_thread::get_id();
            std::memcpy(data_.data() + lba * 512, buf.data(), buf.size());
            done(IoStatus::ok);
        });
    }
    void flush(IoCallback done) override { done(IoStatus::ok); }

    std::vector<std::byte> data_;
    std::atomic<std::thread::id> worker_id_{};
    std::atomic<int> reentered_{0}, writes_{0};
    util::ThreadPool worker_{1};
};

TEST(BackendWriteZeroes, DefaultNeverStartsAWriteInsideTheBackendsOwnDone) {
    // 5 MiB + 1 block: six chunks of at most 1 MiB, the last one short.
    constexpr std::uint64_t kBlocks = (5u << 20) / 512 + 1;
    OwnThreadBackend b(kBlocks + 8);
    std::promise<IoStatus> result;
    b.write_zeroes(4, kBlocks, [&](IoStatus s) { result.set_value(s); });
    auto f = result.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(20)), std::future_status::ready);
    EXPECT_EQ(f.get(), IoStatus::ok);
    EXPECT_EQ(b.writes_.load(), 6);
    EXPECT_EQ(b.reentered_.load(), 0) << "a chunk was written from inside the previous chunk's done";
    for (std::uint64_t i = 0; i < b.data_.size(); ++i) {
        const bool zeroed = i >= 4 * 512 && i < (4 + kBlocks) * 512;
        ASSERT_EQ(b.data_[i], zeroed ? std::byte{0} : std::byte{0xAA}) << "byte " << i;
    }
}

}  // namespace
}  // namespace vstor::test
