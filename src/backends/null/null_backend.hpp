// Discards writes and reads zeroes: a backend for measuring the rest of the stack.
#pragma once

#include <cstring>

#include "vstor/backend.hpp"

namespace vstor::backends {

class NullBackend final : public Backend {
public:
    NullBackend(std::uint64_t size_bytes, std::uint32_t block_size = 512)
        : block_size_(block_size), blocks_(size_bytes / block_size) {}
    std::string kind() const override { return "null"; }
    std::uint32_t block_size() const override { return block_size_; }
    std::uint64_t block_count() const override { return blocks_; }
    BackendCaps caps() const override { return BackendCaps{false, true, false, false, false}; }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::memset(buf.data(), 0, buf.size());
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
    void unmap(std::uint64_t, std::uint64_t, IoCallback done) override { done(IoStatus::ok); }
    void write_zeroes(std::uint64_t, std::uint64_t, IoCallback done) override { done(IoStatus::ok); }

private:
    const std::uint32_t block_size_;
    const std::uint64_t blocks_;
};

}  // namespace vstor::backends
