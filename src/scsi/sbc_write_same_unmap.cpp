// SBC-4 WRITE SAME (10/16), UNMAP and GET LBA STATUS: logical block provisioning.
#include <algorithm>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/sbc.hpp"
#include "scsi/sbc_blocking_io.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {

bool all_zero(std::span<const std::byte> b) {
    return std::all_of(b.begin(), b.end(), [](std::byte x) { return x == std::byte{0}; });
}

// SBC-4 5.50/5.51. Runs on the worker pool.
Outcome write_same(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const bool sixteen = cdb[0] == 0x93;
    const std::uint64_t lba = sixteen ? util::load_be64(cdb + 2) : util::load_be32(cdb + 2);
    std::uint64_t blocks = sixteen ? util::load_be32(cdb + 10) : util::load_be16(cdb + 7);
    const std::uint16_t len_byte = sixteen ? 10 : 7;
    const bool unmap = cdb[1] & 0x08;
    const bool anchor = cdb[1] & 0x10;
    const bool ndob = sixteen && (cdb[1] & 0x01);
    LogicalUnit& lu = *t->lu;
    const std::uint32_t bs = lu.block_size();
    if (cdb[1] & 0xe0) return Outcome::check(sense::invalid_field_in_cdb(1, 7));  // WRPROTECT: no PI
    if (anchor) return Outcome::check(sense::invalid_field_in_cdb(1, 4));          // ANC_SUP = 0
    // WSNZ = 0: zero blocks means every block from LBA to the end of the medium (SBC-4 5.50).
    if (blocks == 0) {
        if (lba >= lu.block_count()) return Outcome::check(sense::lba_out_of_range());
        blocks = lu.block_count() - lba;
    } else if (blocks > limits::kMaxWriteSameBlocks) {
        return Outcome::check(sense::invalid_field_in_cdb(len_byte, 7));
    }
    if (auto s = check_range(*t, lba, blocks)) return Outcome::check(*s);
    // The data-out buffer is exactly one block (none with NDOB).
    if (t->cmd.data.size() != (ndob ? 0u : bs)) return Outcome::check(sense::invalid_field_in_cdb(len_byte, 7));
    const std::span<const std::byte> pattern = ndob ? std::span<const std::byte>() : t->cmd.data.first(bs);
    const bool zeroes = ndob || all_zero(pattern);
    IoStatus st;
    if (unmap) {  // only a thin LUN accepts the bit (unmap_bit_on_thin_only)
        // UNMAP=1 on a thin LUN deallocates the range; with LBPRZ=1 it then reads as zeroes
        // whatever the data-out block held (as libiscsi's WriteSame*.UnmapUntilEnd and Linux
        // expect; SBC-4 4.7.3.4).
        st = util::wait_io([&](IoCallback cb) { lu.backend().unmap(lba, blocks, std::move(cb)); });
    } else if (zeroes) {
        st = util::wait_io([&](IoCallback cb) { lu.backend().write_zeroes(lba, blocks, std::move(cb)); });
    } else {
        // The backend's own WRITE SAME when it has one (RBD: one request, replicated in the
        // cluster), else the engine writes the pattern in chunks.
        st = IoStatus::not_supported;
        if (lu.backend().caps().write_same)
            st = util::wait_io([&](IoCallback cb) {
                lu.backend().write_same(lba, blocks, pattern, !lu.write_cache_enabled(), std::move(cb));
            });
        if (st == IoStatus::not_supported) st = write_pattern(lu, lba, blocks, pattern, !lu.write_cache_enabled());
    }
    return io_outcome(st, true, Outcome::good(ndob ? 0 : bs));
}

// SBC-4 5.44: the parameter list is checked completely before any block is unmapped.
Outcome unmap(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    LogicalUnit& lu = *t->lu;
    if (cdb[1] & 0x01) return Outcome::check(sense::invalid_field_in_cdb(1, 0));  // ANCHOR, ANC_SUP = 0
    const std::uint32_t len = util::load_be16(cdb + 7);
    if (len == 0) return Outcome::good();
    if (len < 8 || t->cmd.data.size() < len) return Outcome::check(sense::param_list_length_error());
    const auto* p = reinterpret_cast<const std::uint8_t*>(t->cmd.data.data());
    const std::uint32_t data_len = util::load_be16(p);
    const std::uint32_t desc_len = util::load_be16(p + 2);
    if (data_len + 2u > len || desc_len + 8u > len) return Outcome::check(sense::param_list_length_error());
    if (desc_len % 16) return Outcome::check(sense::invalid_field_in_param(2, 7));
    const std::uint32_t n = desc_len / 16;
    if (n > limits::kMaxUnmapDescriptors) return Outcome::check(sense::invalid_field_in_param(2, 7));
    std::vector<std::pair<std::uint64_t, std::uint32_t>> ranges;
    for (std::uint32_t i = 0; i < n; ++i) {
        const std::uint8_t* d = p + 8 + 16 * i;
        const std::uint64_t lba = util::load_be64(d);
        const std::uint32_t count = util::load_be32(d + 8);
        if (auto s = check_range(*t, lba, count)) return Outcome::check(*s);
        if (count > limits::kMaxUnmapBlocks)
            return Outcome::check(sense::invalid_field_in_param(static_cast<std::uint16_t>(8 + 16 * i + 8), 7));
        if (count) ranges.emplace_back(lba, count);
    }
    for (const auto& range : ranges) {
        const IoStatus st =
            util::wait_io([&](IoCallback cb) { lu.backend().unmap(range.first, range.second, std::move(cb)); });
        if (st != IoStatus::ok) return Outcome::check(sense::from_io_status(st, true));
    }
    return Outcome::good(len);
}

// SBC-4 5.7: provisioning status of the blocks from the given LBA on. Runs on a worker: the
// backend's allocation_status() is synchronous and may block.
Outcome get_lba_status(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const std::uint64_t lba = util::load_be64(cdb + 2);
    const std::uint32_t alloc = util::load_be32(cdb + 10);
    LogicalUnit& lu = *t->lu;
    const std::uint64_t cap = lu.block_count();
    if (lba >= cap) return Outcome::check(sense::lba_out_of_range());
    if (alloc < 24 && alloc != 0) {
        // Room for the header and at least one descriptor is needed to say anything useful.
    }
    const std::uint64_t span = std::min<std::uint64_t>(cap - lba, 1u << 22);
    auto extents = lu.backend().caps().allocation_status ? lu.backend().allocation_status(lba, span)
                                                         : std::vector<Extent>{Extent{lba, span, true}};
    const std::size_t max_desc = alloc > 8 ? (alloc - 8) / 16 : 0;
    std::vector<std::uint8_t> d(8, 0);
    for (const auto& e : extents) {
        if (d.size() >= 8 + 16 * std::max<std::size_t>(max_desc, 1)) break;
        const std::size_t at = d.size();
        d.resize(at + 16, 0);
        util::store_be64(&d[at], e.lba);
        util::store_be32(&d[at + 8], static_cast<std::uint32_t>(std::min<std::uint64_t>(e.count, 0xffffffffu)));
        d[at + 12] = e.mapped ? 0x00 : 0x01;  // mapped or deallocated
    }
    util::store_be32(&d[0], static_cast<std::uint32_t>(d.size() - 4));
    d.resize(std::min<std::size_t>(d.size(), alloc));
    return reply_data(*t, d);
}

// Logical block provisioning per LUN (LBPU, LBPWS, LBPWS10 in the VPD page): a thick LUN has no
// UNMAP and refuses WRITE SAME's UNMAP bit, as libiscsi's WriteSame*.UnmapVPD expects of a LUN
// with LBPME = 0.
bool thin_only(const LogicalUnit& lu) { return lu.thin(); }
void unmap_bit_on_thin_only(const LogicalUnit& lu, std::array<std::uint8_t, 16>& usage) {
    if (!lu.thin()) usage[1] &= static_cast<std::uint8_t>(~0x08);
}

}  // namespace

void register_sbc_write_same_unmap(CommandTable& tab) {
    using namespace cmd_flag;
    const auto wr = needs_medium | writes_medium | blocking;
    tab.add({0x41, std::nullopt, "WRITE SAME(10)", 10, {0x41, 0xf8, 0xff, 0xff, 0xff, 0xff, 0x1f, 0xff, 0xff, 0}, write_same,
             wr, 0, nullptr, unmap_bit_on_thin_only});
    tab.add({0x93, std::nullopt, "WRITE SAME(16)", 16,
             {0x93, 0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 0}, write_same,
             wr, 0, nullptr, unmap_bit_on_thin_only});
    tab.add({0x42, std::nullopt, "UNMAP", 10, {0x42, 0x01, 0, 0, 0, 0, 0x1f, 0xff, 0xff, 0}, unmap, wr, 0, thin_only});
    tab.add({0x9e, 0x12, "GET LBA STATUS", 16,
             {0x9e, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}, get_lba_status,
             needs_medium | reservation_read | blocking});  // allocation_status() may block: not on a loop
}

}  // namespace vstor::scsi
