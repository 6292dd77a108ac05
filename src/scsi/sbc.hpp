// SBC-4 shared pieces: limits advertised in the Block Limits VPD page and the checks every
// block command makes.
#pragma once

#include <cstdint>
#include <optional>

#include "scsi/task.hpp"

namespace vstor::scsi {

class CommandTable;

namespace limits {
inline constexpr std::uint32_t kMaxTransferBytes = 32u << 20;     // per READ/WRITE
inline constexpr std::uint32_t kOptimalTransferBytes = 1u << 20;
inline constexpr std::uint32_t kMaxUnmapBlocks = 1u << 20;        // per UNMAP descriptor
inline constexpr std::uint32_t kMaxUnmapDescriptors = 256;
inline constexpr std::uint64_t kMaxWriteSameBlocks = 1u << 22;
inline constexpr std::uint8_t kMaxCompareAndWriteBlocks = 255;
inline constexpr std::uint32_t kMaxAtomicBlocksBytes = 1u << 20;
}  // namespace limits

// LBA range check with overflow protection: LBA OUT OF RANGE if lba+count > capacity.
std::optional<Sense> check_range(const Task& t, std::uint64_t lba, std::uint64_t count);
// Transfer length against MAXIMUM TRANSFER LENGTH; field pointer at the CDB's length field.
std::optional<Sense> check_transfer_length(const Task& t, std::uint64_t blocks, std::uint16_t len_byte);
// SAM-5 5.4.3: with less data-out than the CDB describes, the whole blocks that did arrive are
// written and the shortfall is reported as residual overflow. Returns the bytes to write, or
// nullopt when not even whole blocks arrived (INVALID FIELD IN INFORMATION UNIT).
std::optional<std::uint32_t> writable_bytes(const Task& t, std::uint32_t needed);

}  // namespace vstor::scsi
