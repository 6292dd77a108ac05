// SBC-4 READ CAPACITY (10/16) and the block VPD pages (86h, B0h, B1h, B2h).
#include <algorithm>
#include <bit>
#include <vector>

#include "scsi/families.hpp"
#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/sbc.hpp"
#include "scsi/vpd.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

using util::store_be16;
using util::store_be32;
using util::store_be64;

namespace {

Outcome read_capacity10(const TaskPtr& t) {
    // SBC-4 5.20: PMI is obsolete; LBA field must be zero when PMI is zero.
    if (!(t->cdb()[8] & 0x01) && util::load_be32(t->cdb() + 2) != 0)
        return Outcome::check(sense::invalid_field_in_cdb(2, 7));
    std::uint8_t d[8];
    const std::uint64_t last = t->lu->block_count() - 1;
    store_be32(d, last > 0xfffffffeull ? 0xffffffffu : static_cast<std::uint32_t>(last));
    store_be32(d + 4, t->lu->block_size());
    return reply_data(*t, d);
}

Outcome read_capacity16(const TaskPtr& t) {
    const std::uint32_t alloc = util::load_be32(t->cdb() + 10);
    std::uint8_t d[32] = {};
    store_be64(d, t->lu->block_count() - 1);
    store_be32(d + 8, t->lu->block_size());
    d[13] = static_cast<std::uint8_t>(std::countr_zero(t->lu->blocks_per_physical_block()));  // LBPPB exponent
    if (t->lu->thin()) {
        d[14] = 0x80 | 0x40;  // LBPME, LBPRZ: unmapped blocks read as zeroes
    }
    return reply_data(*t, {d, std::min<std::size_t>(sizeof d, alloc)});
}

}  // namespace

std::vector<std::uint8_t> vpd_extended_inquiry(const Task&) {
    std::vector<std::uint8_t> d(64, 0);
    d[5] = 0x07;  // HEADSUP, ORDSUP, SIMPSUP
    d[6] = 0x01;  // V_SUP: volatile cache
    vpd_header(d, 0x86);
    return d;
}

std::vector<std::uint8_t> vpd_block_limits(const Task& t) {
    std::vector<std::uint8_t> d(64, 0);
    const std::uint32_t bs = t.lu->block_size();
    d[4] = 0x00;  // WSNZ = 0: WRITE SAME with zero blocks runs to the end of the medium
    d[5] = limits::kMaxCompareAndWriteBlocks;
    store_be16(&d[6], 1);                                   // optimal transfer length granularity
    store_be32(&d[8], limits::kMaxTransferBytes / bs);      // maximum transfer length
    store_be32(&d[12], t.lu->optimal_transfer_blocks());    // optimal transfer length
    if (t.lu->thin()) {
        store_be32(&d[20], limits::kMaxUnmapBlocks);        // maximum unmap LBA count
        store_be32(&d[24], limits::kMaxUnmapDescriptors);   // maximum unmap block descriptor count
        store_be32(&d[28], t.lu->blocks_per_physical_block());  // optimal unmap granularity
    }
    store_be64(&d[36], limits::kMaxWriteSameBlocks);        // maximum write same length
    store_be32(&d[44], limits::kMaxAtomicBlocksBytes / bs); // maximum atomic transfer length
    store_be32(&d[48], 1);                                  // atomic alignment
    store_be32(&d[52], 1);                                  // atomic transfer length granularity
    vpd_header(d, 0xb0);
    return d;
}

std::vector<std::uint8_t> vpd_block_characteristics(const Task& t) {
    std::vector<std::uint8_t> d(64, 0);
    store_be16(&d[4], t.lu->rotation_rate());  // medium rotation rate: 1 = non-rotating (default)
    d[7] = 0x40 | 0x10;         // WABEREQ/WACEREQ 01b: reads after block/crypto erase succeed (zeroes)
    vpd_header(d, 0xb1);
    return d;
}

std::vector<std::uint8_t> vpd_logical_block_provisioning(const Task& t) {
    std::vector<std::uint8_t> d(8, 0);
    if (t.lu->thin()) {
        // SBC-4 LBP VPD page: byte 5 = LBPU, LBPWS, LBPWS10, LBPRZ (bits 4:2), ANC_SUP, DP; byte 6 =
        // MINIMUM PERCENTAGE (bits 7:3), PROVISIONING TYPE (bits 2:0).
        d[5] = 0x80 | 0x40 | 0x20 | (0x01 << 2);  // LBPRZ = 001b: unmapped blocks read as zeroes
        d[6] = 0x02;                              // provisioning type: thin
    }
    vpd_header(d, 0xb2);
    return d;
}

void register_sbc_capacity(CommandTable& tab) {
    using namespace cmd_flag;
    tab.add({0x25, std::nullopt, "READ CAPACITY(10)", 10, {0x25, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x01, 0},
             read_capacity10, needs_medium | reservation_read | reservation_any});
    tab.add({0x9e, 0x10, "READ CAPACITY(16)", 16,
             {0x9e, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0},
             read_capacity16, needs_medium | reservation_read | reservation_any});
}

}  // namespace vstor::scsi
