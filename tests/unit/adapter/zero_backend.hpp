// The smallest backend the adapter tests need: 512-byte blocks that read as zeroes, writes and
// flushes that succeed at once. A test derives from it and overrides what it is about.
#pragma once

#include <cstring>
#include <string>

#include "vstor/backend.hpp"

namespace vstor::test {

class ZeroBackend : public Backend {
public:
    explicit ZeroBackend(int api_version = VSTOR_BACKEND_API_VERSION) : Backend(api_version) {}
    std::string kind() const override { return "zero"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 64; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::memset(buf.data(), 0, buf.size());
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
};

}  // namespace vstor::test
