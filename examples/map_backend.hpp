// Example: a complete custom backend in a few dozen lines. Blocks live in a std::map, so only
// written blocks take memory; unwritten blocks read as zeroes. Plug it into an Adapter with
// adapter->add_lun(target, lun, std::make_shared<MapBackend>(blocks)).
// Contract v1 (include/vstor/backend.hpp): every call finishes quickly (memory only), so it may
// complete inline; `done` is called after the lock is released, never under it.
#pragma once

#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "vstor/backend.hpp"

namespace example {

class MapBackend final : public vstor::Backend {
public:
    explicit MapBackend(std::uint64_t blocks, std::uint32_t block_size = 512) : blocks_(blocks), bs_(block_size) {}

    std::string kind() const override { return "map"; }
    std::uint32_t block_size() const override { return bs_; }
    std::uint64_t block_count() const override { return blocks_; }
    vstor::BackendCaps caps() const override {
        vstor::BackendCaps c;
        c.thin = true;  // unmap is supported and unmapped blocks read back as zeroes
        return c;
    }

    void read(std::uint64_t lba, std::span<std::byte> buf, vstor::IoCallback done) override {
        {
            std::lock_guard lk(mu_);
            for (std::size_t i = 0; i < buf.size() / bs_; ++i) {
                auto it = data_.find(lba + i);
                if (it == data_.end())
                    std::memset(buf.data() + i * bs_, 0, bs_);
                else
                    std::memcpy(buf.data() + i * bs_, it->second.data(), bs_);
            }
        }
        done(vstor::IoStatus::ok);  // after the lock: never call done while holding it
    }

    void write(std::uint64_t lba, std::span<const std::byte> buf, bool /*fua*/, vstor::IoCallback done) override {
        {
            std::lock_guard lk(mu_);
            for (std::size_t i = 0; i < buf.size() / bs_; ++i)
                data_[lba + i].assign(buf.begin() + static_cast<std::ptrdiff_t>(i * bs_),
                                      buf.begin() + static_cast<std::ptrdiff_t>((i + 1) * bs_));
        }
        done(vstor::IoStatus::ok);  // memory is durable as soon as it is written: FUA needs nothing
    }

    void flush(vstor::IoCallback done) override { done(vstor::IoStatus::ok); }

    void unmap(std::uint64_t lba, std::uint64_t count, vstor::IoCallback done) override {
        {
            std::lock_guard lk(mu_);
            data_.erase(data_.lower_bound(lba), data_.lower_bound(lba + count));
        }
        done(vstor::IoStatus::ok);
    }

    std::size_t stored_blocks() const {
        std::lock_guard lk(mu_);
        return data_.size();
    }

private:
    const std::uint64_t blocks_;
    const std::uint32_t bs_;
    mutable std::mutex mu_;  // guards data_
    std::map<std::uint64_t, std::vector<std::byte>> data_;
};

}  // namespace example
