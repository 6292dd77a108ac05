// A backend for tests of writes left unfinished: it stores data like a memory disk, but holds
// each write's completion until the test releases it, from the test's thread (as a file or RBD
// LUN completes from its own), so the write's buffer stays held meanwhile. Reads and flushes
// complete at once.
#pragma once

#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vstor/backend.hpp"

namespace vstor::test {

class GatedWrites final : public Backend {
public:
    explicit GatedWrites(std::size_t bytes) : store_(bytes) {}
    std::string kind() const override { return "gated"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return store_.size() / 512; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t lba, std::span<std::byte> buf, IoCallback done) override {
        {
            std::lock_guard lk(mu_);
            std::memcpy(buf.data(), store_.data() + lba * 512, buf.size());
        }
        done(IoStatus::ok);
    }
    void write(std::uint64_t lba, std::span<const std::byte> buf, bool, IoCallback done) override {
        std::lock_guard lk(mu_);
        std::memcpy(store_.data() + lba * 512, buf.data(), buf.size());
        held_.push_back(std::move(done));
    }
    void flush(IoCallback done) override { done(IoStatus::ok); }

    std::size_t held_count() {
        std::lock_guard lk(mu_);
        return held_.size();
    }
    // Waits until `n` writes are held (or 5 s pass) and says how many there are.
    std::size_t wait_held(std::size_t n) {
        for (int i = 0; i < 500 && held_count() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return held_count();
    }
    // Completes the oldest held write (none held: nothing happens).
    void release_one() {
        IoCallback cb;
        {
            std::lock_guard lk(mu_);
            if (held_.empty()) return;
            cb = std::move(held_.front());
            held_.erase(held_.begin());
        }
        cb(IoStatus::ok);
    }
    void release_all() {
        std::vector<IoCallback> done;
        {
            std::lock_guard lk(mu_);
            done.swap(held_);
        }
        for (auto& d : done) d(IoStatus::ok);
    }

private:
    std::mutex mu_;
    std::vector<std::byte> store_;
    std::vector<IoCallback> held_;
};

}  // namespace vstor::test
