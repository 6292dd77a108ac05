// Blocking backend helpers for slow-path commands that run on the worker pool (cmd_flag::blocking):
// WRITE SAME, VERIFY, COMPARE AND WRITE, SANITIZE, EXTENDED COPY. Never call on an event loop.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "scsi/logical_unit.hpp"
#include "scsi/sync_io.hpp"

namespace vstor::scsi {

inline IoStatus read_blocks(LogicalUnit& lu, std::uint64_t lba, std::span<std::byte> buf) {
    return util::wait_io([&](IoCallback cb) { lu.backend().read(lba, buf, std::move(cb)); });
}

inline IoStatus write_blocks(LogicalUnit& lu, std::uint64_t lba, std::span<const std::byte> buf, bool fua) {
    return util::wait_io([&](IoCallback cb) { lu.backend().write(lba, buf, fua, std::move(cb)); });
}

// Writes `pattern` (one block) to every block of [lba, lba+count) in chunks of up to 1 MiB.
IoStatus write_pattern(LogicalUnit& lu, std::uint64_t lba, std::uint64_t count, std::span<const std::byte> pattern,
                       bool fua);

}  // namespace vstor::scsi
