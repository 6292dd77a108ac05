// SBC-4 VERIFY (10/12/16) and WRITE AND VERIFY (10/12/16).
#include <cstring>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/sbc.hpp"
#include "scsi/sbc_blocking_io.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {

struct VerifyRange {
    std::uint64_t lba;
    std::uint32_t blocks;
    std::uint16_t len_byte;
};

VerifyRange decode_verify_range(const std::uint8_t* cdb) {
    switch (cdb[0]) {
        case 0x2f:
        case 0x2e: return {util::load_be32(cdb + 2), util::load_be16(cdb + 7), 7};
        case 0xaf:
        case 0xae: return {util::load_be32(cdb + 2), util::load_be32(cdb + 6), 6};
        default: return {util::load_be64(cdb + 2), util::load_be32(cdb + 10), 10};
    }
}

// Compares the medium with `expect` (one block repeated when `one_block`), MISCOMPARE with the
// byte offset of the first difference (SBC-4 5.33).
Outcome compare_range(const TaskPtr& t, const VerifyRange& r, std::span<const std::byte> expect, bool one_block,
                      std::uint32_t needed) {
    LogicalUnit& lu = *t->lu;
    const std::size_t bs = lu.block_size();
    std::vector<std::byte> medium(r.blocks * bs);
    if (auto st = read_blocks(lu, r.lba, medium); st != IoStatus::ok)
        return Outcome::check(sense::from_io_status(st, false));
    for (std::size_t i = 0; i < medium.size(); ++i) {
        const std::byte want = one_block ? expect[i % bs] : expect[i];
        if (medium[i] != want) return Outcome::check(sense::miscompare_during_verify(i));
    }
    return Outcome::good(needed);
}

Outcome verify(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const VerifyRange r = decode_verify_range(cdb);
    const std::uint8_t bytchk = (cdb[1] >> 1) & 3;
    if (cdb[1] & 0xe0) return Outcome::check(sense::invalid_field_in_cdb(1, 7));  // VRPROTECT: no PI
    if (bytchk == 2) return Outcome::check(sense::invalid_field_in_cdb(1, 2));
    if (auto s = check_range(*t, r.lba, r.blocks)) return Outcome::check(*s);
    if (auto s = check_transfer_length(*t, r.blocks, r.len_byte)) return Outcome::check(*s);
    if (r.blocks == 0) return Outcome::good();
    const std::uint32_t bs = t->lu->block_size();
    if (bytchk == 0) {
        // Medium verification: the blocks must be readable.
        std::vector<std::byte> buf(std::size_t{r.blocks} * bs);
        if (auto st = read_blocks(*t->lu, r.lba, buf); st != IoStatus::ok)
            return Outcome::check(sense::from_io_status(st, false));
        return Outcome::good();
    }
    const std::uint32_t needed = bytchk == 3 ? bs : r.blocks * bs;
    if (t->cmd.data.size() < needed) return Outcome::check(sense::invalid_field_in_cdb(r.len_byte, 7));
    return compare_range(t, r, t->cmd.data.first(needed), bytchk == 3, needed);
}

Outcome write_and_verify(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const VerifyRange r = decode_verify_range(cdb);
    if (cdb[1] & 0xe0) return Outcome::check(sense::invalid_field_in_cdb(1, 7));  // WRPROTECT: no PI
    if (auto s = check_range(*t, r.lba, r.blocks)) return Outcome::check(*s);
    if (auto s = check_transfer_length(*t, r.blocks, r.len_byte)) return Outcome::check(*s);
    if (r.blocks == 0) return Outcome::good();
    const std::uint32_t bytes = r.blocks * t->lu->block_size();
    const auto n = writable_bytes(*t, bytes);
    if (!n) return Outcome::check(sense::invalid_field_in_information_unit(), bytes);
    if (*n == 0) return Outcome::good(bytes);
    const auto data = t->cmd.data.first(*n);
    // The verify step reads back what was written: it must be durable first.
    if (auto st = write_blocks(*t->lu, r.lba, data, true); st != IoStatus::ok)
        return Outcome::check(sense::from_io_status(st, true));
    const VerifyRange written{r.lba, *n / t->lu->block_size(), r.len_byte};
    return compare_range(t, written, data, false, bytes);
}

}  // namespace

void register_sbc_verify(CommandTable& tab) {
    using namespace cmd_flag;
    const auto rd = needs_medium | reservation_read | blocking;
    const auto wr = needs_medium | writes_medium | blocking;
    tab.add({0x2f, std::nullopt, "VERIFY(10)", 10, {0x2f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, verify, rd});
    tab.add({0xaf, std::nullopt, "VERIFY(12)", 12,
             {0xaf, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0}, verify, rd});
    tab.add({0x8f, std::nullopt, "VERIFY(16)", 16,
             {0x8f, 0xf6, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0}, verify, rd});
    tab.add({0x2e, std::nullopt, "WRITE AND VERIFY(10)", 10, {0x2e, 0xf2, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0},
             write_and_verify, wr});
    tab.add({0xae, std::nullopt, "WRITE AND VERIFY(12)", 12,
             {0xae, 0xf2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0}, write_and_verify, wr});
    tab.add({0x8e, std::nullopt, "WRITE AND VERIFY(16)", 16,
             {0x8e, 0xf2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0},
             write_and_verify, wr});
}

}  // namespace vstor::scsi
