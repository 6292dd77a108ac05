// NBD commands as SCSI commands (SBC-4), and SCSI outcomes as NBD errors. Pure: builds CDBs
// into a vstor::Command and decodes completions and parameter data; the connection owns the
// buffers and submits.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "vstor/command.hpp"

namespace vstor::nbd {

// What the Block Limits VPD page (B0h) allows per command; defaults if the page is absent.
struct BlockLimits {
    std::uint32_t max_unmap_blocks = 1u << 20;      // per UNMAP block descriptor
    std::uint32_t max_unmap_descriptors = 64;       // per UNMAP command
    std::uint64_t max_write_same_blocks = 1u << 22; // per WRITE SAME
};

// SBC-4 6.6.4. Zero fields mean "no limit reported" and keep the defaults (capped to what the
// CDB fields can carry).
BlockLimits parse_block_limits(std::span<const std::uint8_t> vpd);

void cdb_inquiry_vpd(Command& c, std::uint8_t page, std::span<std::byte> buf);
void cdb_read16(Command& c, std::uint64_t lba, std::uint32_t blocks, std::span<std::byte> buf);
void cdb_write16(Command& c, std::uint64_t lba, std::uint32_t blocks, bool fua, std::span<std::byte> buf);
void cdb_synchronize_cache16(Command& c);  // whole medium (LBA 0, zero blocks)
// One logical block of `zero_block` written over [lba, lba+blocks); UNMAP bit asks to deallocate.
void cdb_write_same16(Command& c, std::uint64_t lba, std::uint32_t blocks, bool unmap, std::span<std::byte> zero_block);
void cdb_pre_fetch16(Command& c, std::uint64_t lba, std::uint32_t blocks);
void cdb_get_lba_status16(Command& c, std::uint64_t lba, std::span<std::byte> buf);

// UNMAP with as many descriptors as the limits and `param` allow, from `lba` on. Returns the
// number of blocks it covers (0 if `param` cannot hold one descriptor).
std::uint64_t cdb_unmap(Command& c, std::uint64_t lba, std::uint64_t blocks, const BlockLimits& lim,
                        std::span<std::byte> param);

// Largest per-command block count for WRITE SAME(16) (its length field is 32 bits).
std::uint32_t write_same_chunk(const BlockLimits& lim, std::uint64_t remaining);

enum class Outcome : std::uint8_t { ok, retry, error };
struct Mapped {
    Outcome outcome = Outcome::ok;
    std::uint32_t error = 0;  // NBD error value when outcome == error
};
// GOOD/CONDITION MET -> ok; UNIT ATTENTION, BUSY, TASK SET FULL -> retry (NBD cannot report
// them); RESERVATION CONFLICT and DATA PROTECT -> EPERM; MEDIUM ERROR -> EIO; LBA out of range ->
// ENOSPC for writes, EINVAL otherwise; thin provisioning exhausted -> ENOSPC; anything else EIO
// (ILLEGAL REQUEST: EINVAL).
// Sense is read with the public decoder (vstor/sense.hpp), so fixed and descriptor format
// (D_SENSE=1, which any initiator may set) map alike.
Mapped map_completion(const Completion& c, bool write);

// GET LBA STATUS parameter data -> base:allocation descriptors (byte length, NBD state flags)
// covering consecutive blocks from start_lba, clipped to end_lba and merged. `lbprz`:
// deallocated blocks read as zeroes. With req_one only the first descriptor is produced.
void lba_status_to_extents(std::span<const std::uint8_t> data, std::uint64_t start_lba, std::uint64_t end_lba,
                           std::uint32_t block_size, bool lbprz, bool req_one,
                           std::vector<std::pair<std::uint32_t, std::uint32_t>>& out);

}  // namespace vstor::nbd
