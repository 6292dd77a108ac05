// The mem backend completes every call inline: these wrappers return its IoStatus directly.
#pragma once

#include <cstdint>
#include <span>

#include "backends/mem/mem_backend.hpp"

namespace vstor::backends::test {

inline IoStatus read_sync(MemBackend& m, std::uint64_t lba, std::span<std::byte> out) {
    IoStatus st = IoStatus::medium_error;
    m.read(lba, out, [&](IoStatus s) { st = s; });
    return st;
}

inline IoStatus write_sync(MemBackend& m, std::uint64_t lba, std::span<const std::byte> data) {
    IoStatus st = IoStatus::medium_error;
    m.write(lba, data, false, [&](IoStatus s) { st = s; });
    return st;
}

inline IoStatus unmap_sync(MemBackend& m, std::uint64_t lba, std::uint64_t blocks) {
    IoStatus st = IoStatus::medium_error;
    m.unmap(lba, blocks, [&](IoStatus s) { st = s; });
    return st;
}

}  // namespace vstor::backends::test
