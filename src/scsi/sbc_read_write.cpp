// SBC-4 READ and WRITE (6/10/12/16): the hot path. Decode, range-check, then one backend call.
#include <cstring>
#include <memory>
#include <vector>

#include "scsi/families.hpp"
#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/sbc.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

using util::load_be16;
using util::load_be32;
using util::load_be64;

namespace {

struct Rw {
    std::uint64_t lba;
    std::uint64_t blocks;
    bool fua;
    std::uint16_t len_byte;  // CDB byte of the transfer length field, for the field pointer
};

Rw decode_rw(const std::uint8_t* cdb) {
    switch (cdb[0]) {
        case 0x08:
        case 0x0a: {  // READ(6)/WRITE(6): 0 blocks means 256
            const std::uint64_t lba = util::load_be24(cdb + 1) & 0x1fffff;
            return {lba, cdb[4] ? cdb[4] : 256u, false, 4};
        }
        case 0x28:
        case 0x2a:
            return {load_be32(cdb + 2), load_be16(cdb + 7), (cdb[1] & 0x08) != 0, 7};
        case 0xa8:
        case 0xaa:
            return {load_be32(cdb + 2), load_be32(cdb + 6), (cdb[1] & 0x08) != 0, 6};
        default:  // 0x88 / 0x8a
            return {load_be64(cdb + 2), load_be32(cdb + 10), (cdb[1] & 0x08) != 0, 10};
    }
}

// RDPROTECT/WRPROTECT (bits 7..5 of byte 1) need protection information, which vstor does not
// format: SBC-4 says INVALID FIELD IN CDB.
bool protection_requested(const std::uint8_t* cdb) {
    return cdb[0] != 0x08 && cdb[0] != 0x0a && (cdb[1] & 0xe0);
}

std::optional<Sense> check_rw(const Task& t, const Rw& rw) {
    if (protection_requested(t.cdb())) return sense::invalid_field_in_cdb(1, 7);
    if (auto s = check_range(t, rw.lba, rw.blocks)) return s;
    if (auto s = check_transfer_length(t, rw.blocks, rw.len_byte)) return s;
    return std::nullopt;
}

Outcome read(const TaskPtr& t) {
    const Rw rw = decode_rw(t->cdb());
    if (auto s = check_rw(*t, rw)) return Outcome::check(*s);
    const std::uint32_t bytes = static_cast<std::uint32_t>(rw.blocks * t->lu->block_size());
    if (bytes == 0) return Outcome::good();
    if (t->cmd.accept_data_view && t->cmd.expected_length >= bytes) {
        if (auto view = t->lu->backend().read_view(rw.lba, rw.blocks)) return Outcome::data_in(bytes, std::move(view));
    }
    if (t->cmd.data.size() >= bytes) {
        t->lu->backend().read(rw.lba, t->cmd.data.first(bytes), [t, bytes](IoStatus s, std::string_view why) {
            t->complete(io_outcome(s, false, Outcome::data_in(bytes), why));
        });
        return Outcome::pending();
    }
    // Initiator gave less room than the CDB asks for: read it all, return what fits, and
    // report the overflow residual (SAM-5 5.4.3).
    auto tmp = std::make_shared<std::vector<std::byte>>(bytes);
    t->lu->backend().read(rw.lba, *tmp, [t, tmp, bytes](IoStatus s, std::string_view why) {
        if (s != IoStatus::ok) return t->complete(io_outcome(s, false, Outcome(), why));
        if (!t->cmd.data.empty()) std::memcpy(t->cmd.data.data(), tmp->data(), t->cmd.data.size());
        t->complete(Outcome::data_in(bytes));
    });
    return Outcome::pending();
}

Outcome write(const TaskPtr& t) {
    const Rw rw = decode_rw(t->cdb());
    if (auto s = check_rw(*t, rw)) return Outcome::check(*s);
    const std::uint32_t bytes = static_cast<std::uint32_t>(rw.blocks * t->lu->block_size());
    if (bytes == 0) return Outcome::good();
    const auto n = writable_bytes(*t, bytes);
    if (!n) return Outcome::check(sense::invalid_field_in_information_unit(), bytes);
    if (*n == 0) return Outcome::good(bytes);
    const bool fua = rw.fua || !t->lu->write_cache_enabled();
    t->lu->backend().write(rw.lba, t->cmd.data.first(*n), fua, [t, bytes](IoStatus s, std::string_view why) {
        t->complete(io_outcome(s, true, Outcome::good(bytes), why));
    });
    return Outcome::pending();
}

}  // namespace

void register_sbc_read_write(CommandTable& tab) {
    using namespace cmd_flag;
    const auto rd = needs_medium | reservation_read;
    const auto wr = needs_medium | writes_medium;
    tab.add({0x08, std::nullopt, "READ(6)", 6, {0x08, 0x1f, 0xff, 0xff, 0xff, 0}, read, rd});
    tab.add({0x0a, std::nullopt, "WRITE(6)", 6, {0x0a, 0x1f, 0xff, 0xff, 0xff, 0}, write, wr});
    tab.add({0x28, std::nullopt, "READ(10)", 10, {0x28, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, read, rd});
    tab.add({0x2a, std::nullopt, "WRITE(10)", 10, {0x2a, 0xfa, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, write, wr});
    tab.add({0xa8, std::nullopt, "READ(12)", 12, {0xa8, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9f, 0}, read, rd});
    tab.add({0xaa, std::nullopt, "WRITE(12)", 12, {0xaa, 0xfa, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9f, 0}, write, wr});
    tab.add({0x88, std::nullopt, "READ(16)", 16,
             {0x88, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9f, 0}, read, rd});
    tab.add({0x8a, std::nullopt, "WRITE(16)", 16,
             {0x8a, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x9f, 0}, write, wr});
}

}  // namespace vstor::scsi
