#include "nbd/scsi_translate.hpp"

#include <algorithm>
#include <cstring>
#include <limits>

#include "nbd/protocol.hpp"
#include "util/endian.hpp"
#include "vstor/sense.hpp"

namespace vstor::nbd {

namespace {

void start(Command& c, std::uint8_t opcode, std::uint8_t len) {
    c.cdb.fill(0);
    c.cdb[0] = opcode;
    c.cdb_len = len;
    c.dir = DataDirection::none;
    c.expected_length = 0;
    c.data = {};
}

void with_data(Command& c, DataDirection d, std::span<std::byte> buf) {
    c.dir = buf.empty() ? DataDirection::none : d;
    c.expected_length = static_cast<std::uint32_t>(buf.size());
    c.data = buf;
}

// SBC-4 xx(16) layout: LBA in bytes 2..9, count in bytes 10..13.
void lba16(Command& c, std::uint64_t lba, std::uint32_t count) {
    util::store_be64(&c.cdb[2], lba);
    util::store_be32(&c.cdb[10], count);
}

}  // namespace

BlockLimits parse_block_limits(std::span<const std::uint8_t> v) {
    BlockLimits lim;
    if (v.size() < 4 || v[1] != 0xb0) return lim;
    const std::size_t len = std::min<std::size_t>(v.size(), 4u + util::load_be16(&v[2]));
    if (len >= 28) {
        if (const auto n = util::load_be32(&v[20])) lim.max_unmap_blocks = n;
        if (const auto n = util::load_be32(&v[24]))
            lim.max_unmap_descriptors = std::min<std::uint32_t>(n, 4096);  // bounds the parameter list
    }
    if (len >= 44) {
        if (const auto n = util::load_be64(&v[36])) lim.max_write_same_blocks = n;
    }
    return lim;
}

void cdb_inquiry_vpd(Command& c, std::uint8_t page, std::span<std::byte> buf) {
    start(c, 0x12, 6);
    c.cdb[1] = 0x01;  // EVPD
    c.cdb[2] = page;
    util::store_be16(&c.cdb[3], static_cast<std::uint16_t>(std::min<std::size_t>(buf.size(), 0xffff)));
    with_data(c, DataDirection::read, buf);
}

void cdb_read16(Command& c, std::uint64_t lba, std::uint32_t blocks, std::span<std::byte> buf) {
    start(c, 0x88, 16);
    lba16(c, lba, blocks);
    with_data(c, DataDirection::read, buf);
}

void cdb_write16(Command& c, std::uint64_t lba, std::uint32_t blocks, bool fua, std::span<std::byte> buf) {
    start(c, 0x8a, 16);
    if (fua) c.cdb[1] = 0x08;
    lba16(c, lba, blocks);
    with_data(c, DataDirection::write, buf);
}

void cdb_synchronize_cache16(Command& c) { start(c, 0x91, 16); }

void cdb_write_same16(Command& c, std::uint64_t lba, std::uint32_t blocks, bool unmap,
                      std::span<std::byte> zero_block) {
    start(c, 0x93, 16);
    if (unmap) c.cdb[1] = 0x08;
    lba16(c, lba, blocks);
    with_data(c, DataDirection::write, zero_block);
}

void cdb_pre_fetch16(Command& c, std::uint64_t lba, std::uint32_t blocks) {
    start(c, 0x90, 16);
    lba16(c, lba, blocks);
}

void cdb_get_lba_status16(Command& c, std::uint64_t lba, std::span<std::byte> buf) {
    start(c, 0x9e, 16);
    c.cdb[1] = 0x12;  // SERVICE ACTION IN(16): GET LBA STATUS
    util::store_be64(&c.cdb[2], lba);
    util::store_be32(&c.cdb[10], static_cast<std::uint32_t>(buf.size()));
    with_data(c, DataDirection::read, buf);
}

std::uint64_t cdb_unmap(Command& c, std::uint64_t lba, std::uint64_t blocks, const BlockLimits& lim,
                        std::span<std::byte> param) {
    const std::size_t room = param.size() >= 8 ? (param.size() - 8) / 16 : 0;
    const std::size_t max_desc = std::min<std::size_t>({room, lim.max_unmap_descriptors, (0xffffu - 8) / 16});
    const std::uint64_t per = std::max<std::uint32_t>(lim.max_unmap_blocks, 1);
    auto* p = reinterpret_cast<std::uint8_t*>(param.data());
    std::size_t n = 0;
    std::uint64_t covered = 0;
    while (n < max_desc && covered < blocks) {
        const std::uint64_t count = std::min(per, blocks - covered);
        std::uint8_t* d = p + 8 + 16 * n;
        std::memset(d, 0, 16);
        util::store_be64(d, lba + covered);
        util::store_be32(d + 8, static_cast<std::uint32_t>(count));
        covered += count;
        ++n;
    }
    const auto len = static_cast<std::uint16_t>(8 + 16 * n);
    util::store_be16(p, static_cast<std::uint16_t>(len - 2));
    util::store_be16(p + 2, static_cast<std::uint16_t>(16 * n));
    util::store_be32(p + 4, 0);
    start(c, 0x42, 10);
    util::store_be16(&c.cdb[7], len);
    with_data(c, DataDirection::write, param.first(len));
    return covered;
}

std::uint32_t write_same_chunk(const BlockLimits& lim, std::uint64_t remaining) {
    const std::uint64_t cap = std::min<std::uint64_t>(std::max<std::uint64_t>(lim.max_write_same_blocks, 1),
                                                      std::numeric_limits<std::uint32_t>::max());
    return static_cast<std::uint32_t>(std::min(cap, remaining));
}

Mapped map_completion(const Completion& c, bool write) {
    if (c.aborted) return {Outcome::error, err::io};
    switch (c.status) {
        case scsi_status::good:
        case scsi_status::condition_met:
            return {};
        case scsi_status::busy:
        case scsi_status::task_set_full:
            return {Outcome::retry, 0};
        case scsi_status::reservation_conflict:
            return {Outcome::error, err::perm};
        case scsi_status::check_condition:
            break;
        default:
            return {Outcome::error, err::io};
    }
    namespace key = scsi::sense_key;
    const scsi::Sense s = scsi::decode_sense(c.sense_bytes()).value_or(scsi::Sense{});
    switch (s.key) {
        case key::unit_attention:  // consumed; the command was not executed
            return {Outcome::retry, 0};
        case key::medium_error:
            return {Outcome::error, err::io};
        case key::data_protect:  // incl. SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h)
            return {Outcome::error, s.is(key::data_protect, 0x27, 0x07) ? err::nospc : err::perm};
        case key::illegal_request:
            if (s.is(key::illegal_request, 0x21, 0x00))  // LBA OUT OF RANGE
                return {Outcome::error, write ? err::nospc : err::inval};
            return {Outcome::error, err::inval};
        default:  // NOT READY, ABORTED COMMAND, HARDWARE ERROR, ...
            return {Outcome::error, err::io};
    }
}

void lba_status_to_extents(std::span<const std::uint8_t> data, std::uint64_t start_lba, std::uint64_t end_lba,
                           std::uint32_t block_size, bool lbprz, bool req_one,
                           std::vector<std::pair<std::uint32_t, std::uint32_t>>& out) {
    out.clear();
    if (data.size() < 8 || end_lba <= start_lba) return;
    const std::size_t avail = std::min<std::size_t>(data.size(), 4u + std::uint64_t{util::load_be32(data.data())});
    std::uint64_t next = start_lba;
    for (std::size_t at = 8; at + 16 <= avail && next < end_lba; at += 16) {
        const std::uint64_t lba = util::load_be64(&data[at]);
        const std::uint64_t count = util::load_be32(&data[at + 8]);
        const std::uint8_t prov = data[at + 12] & 0x0f;
        if (count == 0 || lba > next) break;  // must describe consecutive blocks from `next`
        if (lba + count <= next) continue;    // wholly before `next`
        const std::uint64_t from = next;
        const std::uint64_t to = std::min(lba + count, end_lba);
        const std::uint32_t flags = prov == 0x01 ? (kStateHole | (lbprz ? kStateZero : 0)) : 0;
        std::uint64_t bytes = (to - from) * block_size;
        // The request length is 32 bits, so clipped extents fit; merge same-state neighbours.
        if (!out.empty() && out.back().second == flags && out.back().first + bytes <= 0xffffffffull) {
            out.back().first += static_cast<std::uint32_t>(bytes);
        } else {
            out.emplace_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(bytes, 0xffffffffull)), flags);
        }
        next = to;
    }
    if (req_one && out.size() > 1) out.resize(1);
}

}  // namespace vstor::nbd
