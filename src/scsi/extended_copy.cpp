// SPC-4 EXTENDED COPY (LID1) with identification-descriptor targets and block-to-block segments
// between LUNs of the same target, and RECEIVE COPY RESULTS (COPY STATUS, OPERATING PARAMETERS).
#include <algorithm>
#include <optional>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/nexus_state.hpp"
#include "scsi/sbc_blocking_io.hpp"
#include "scsi/target.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {

constexpr std::uint16_t kMaxTargetDescriptors = 8;
constexpr std::uint16_t kMaxSegmentDescriptors = 64;
constexpr std::uint32_t kMaxSegmentBlocks = 65535;  // NUMBER OF BLOCKS is 16 bits in type 02h
constexpr std::uint8_t kTargetDescriptorIdentification = 0xe4;
constexpr std::uint8_t kSegmentBlockToBlock = 0x02;

Sense copy_aborted(std::uint8_t asc, std::uint8_t ascq) {
    Sense s;
    s.key = 0x0a;  // COPY ABORTED
    s.asc = asc;
    s.ascq = ascq;
    return s;
}

std::string nexus_key(const Task& t) { return t.nexus ? t.nexus->instance_key() : std::string(); }

void remember(const Task& t, std::uint8_t list_id, std::uint8_t status, std::uint16_t segments, std::uint64_t blocks) {
    std::lock_guard lk(t.lu->copy_mu);
    t.lu->copy_results[{nexus_key(t), list_id}] = LogicalUnit::CopyResult{status, segments, blocks};
}

// One block-to-block segment, validated (its LUNs are held by the target list).
struct Segment {
    LogicalUnit* src;
    LogicalUnit* dst;
    std::uint32_t blocks;
    std::uint64_t src_lba;
    std::uint64_t dst_lba;
};
using Targets = std::vector<std::shared_ptr<LogicalUnit>>;

constexpr std::uint32_t kMaxDescriptorListBytes = 16 + kMaxTargetDescriptors * 32 + kMaxSegmentDescriptors * 28;

// Target descriptors: each names a LUN of this target by its NAA designator (nullptr: none).
std::optional<Outcome> parse_targets(const Task& t, const std::uint8_t* p, std::uint16_t tgt_len, Targets& targets) {
    for (std::size_t off = 16; off < 16u + tgt_len; off += 32) {
        const std::uint8_t* d = p + off;
        if (d[0] != kTargetDescriptorIdentification) return Outcome::check(sense::unsupported_target_descriptor_type());
        if (d[1] & 0x1f) return Outcome::check(sense::invalid_field_in_param(static_cast<std::uint16_t>(off + 1), 4));  // block devices only
        const std::uint8_t id_len = d[7];
        if ((d[5] & 0x0f) != 0x03 || id_len != 8) {  // designator type NAA, 8 bytes
            targets.push_back(nullptr);
            continue;
        }
        const std::uint64_t naa = util::load_be64(d + 8);
        std::shared_ptr<LogicalUnit> found;
        for (const auto& lu : t.target->luns())
            if (lu->naa_id() == naa) found = lu;
        targets.push_back(found);
    }
    return std::nullopt;
}

// Segment descriptors, every one validated before anything is copied.
std::optional<Outcome> parse_segments(const std::uint8_t* p, std::uint16_t tgt_len, std::uint32_t seg_len,
                                      const Targets& targets, std::vector<Segment>& plan) {
    const std::uint8_t* seg = p + 16 + tgt_len;
    const std::uint8_t* end = seg + seg_len;
    std::uint16_t segments = 0;
    for (const std::uint8_t* s = seg; s < end;) {
        if (end - s < 4) return Outcome::check(sense::param_list_length_error());
        const std::uint16_t dlen = util::load_be16(s + 2);
        const auto seg_off = static_cast<std::uint16_t>(s - p);
        if (s[0] != kSegmentBlockToBlock) return Outcome::check(sense::unsupported_segment_descriptor_type());
        if (dlen != 0x18 || end - s < 4 + dlen) return Outcome::check(sense::invalid_field_in_param(seg_off + 2, 7));
        if (++segments > kMaxSegmentDescriptors) return Outcome::check(sense::too_many_segment_descriptors());
        const std::uint16_t si = util::load_be16(s + 4), di = util::load_be16(s + 6);
        // A segment naming a missing descriptor or a LUN we cannot find aborts the copy.
        if (si >= targets.size() || di >= targets.size()) return Outcome::check(copy_aborted(0x08, 0x04));
        if (!targets[si] || !targets[di]) return Outcome::check(copy_aborted(0x0d, 0x02));
        Segment sg{targets[si].get(), targets[di].get(), util::load_be16(s + 10), util::load_be64(s + 12),
                   util::load_be64(s + 20)};
        if (sg.src->block_size() != sg.dst->block_size())
            return Outcome::check(sense::invalid_field_in_param(seg_off, 7));
        plan.push_back(sg);
        s += 4 + dlen;
    }
    if (seg_len / 28 > kMaxSegmentDescriptors) return Outcome::check(sense::too_many_segment_descriptors());
    return std::nullopt;
}

// Copies segment by segment; the result is kept for RECEIVE COPY RESULTS.
Outcome run_copy(const Task& t, const std::vector<Segment>& plan, std::uint8_t list_id, std::uint32_t len) {
    std::uint64_t copied = 0;
    std::uint16_t done_segments = 0;
    for (const auto& sg : plan) {
        const std::uint64_t scap = sg.src->block_count(), dcap = sg.dst->block_count();
        if (sg.src_lba > scap || sg.blocks > scap - sg.src_lba || sg.dst_lba > dcap || sg.blocks > dcap - sg.dst_lba) {
            remember(t, list_id, 0x02, done_segments, copied);
            // SPC-4 6.4.5: an out-of-range segment aborts the copy; the segment is not processed.
            return Outcome::check(copy_aborted(0x00, 0x00));
        }
        if (sg.dst->read_only()) {
            remember(t, list_id, 0x02, done_segments, copied);
            return Outcome::check(sense::write_protected());
        }
        std::vector<std::byte> buf(std::size_t{sg.blocks} * sg.src->block_size());
        if (!buf.empty()) {
            IoStatus st = read_blocks(*sg.src, sg.src_lba, buf);
            if (st == IoStatus::ok) st = write_blocks(*sg.dst, sg.dst_lba, buf, false);
            if (st != IoStatus::ok) {
                remember(t, list_id, 0x02, done_segments, copied);
                return Outcome::check(copy_aborted(st == IoStatus::medium_error ? 0x11 : 0x0d, 0x00));
            }
        }
        copied += sg.blocks;
        ++done_segments;
    }
    remember(t, list_id, 0x01, done_segments, copied);
    return Outcome::good(len);
}

Outcome extended_copy(const TaskPtr& t) {
    const std::uint32_t len = util::load_be32(t->cdb() + 10);
    if (len == 0) return Outcome::good();
    if (len < 16 || t->cmd.data.size() < len) return Outcome::check(sense::param_list_length_error());
    const auto* p = reinterpret_cast<const std::uint8_t*>(t->cmd.data.data());
    const std::uint8_t list_id = p[0];
    const std::uint8_t list_id_usage = (p[1] >> 3) & 3;
    if (list_id_usage == 1) return Outcome::check(sense::invalid_field_in_param(1, 4));  // reserved value
    if (list_id_usage == 3 && list_id != 0) return Outcome::check(sense::invalid_field_in_param(0, 7));
    if (p[1] & 0x20) return Outcome::check(sense::invalid_field_in_param(1, 5));  // STR: no streams
    const std::uint16_t tgt_len = util::load_be16(p + 2);
    const std::uint32_t seg_len = util::load_be32(p + 8);
    const std::uint32_t inline_len = util::load_be32(p + 12);
    if (inline_len != 0) return Outcome::check(sense::invalid_field_in_param(12, 7));  // no inline data
    if (16ull + tgt_len + seg_len > len || 16ull + tgt_len + seg_len > kMaxDescriptorListBytes)
        return Outcome::check(sense::param_list_length_error());
    if (tgt_len % 32) return Outcome::check(sense::invalid_field_in_param(2, 7));
    if (tgt_len / 32 > kMaxTargetDescriptors) return Outcome::check(sense::too_many_target_descriptors());

    Targets targets;
    if (auto bad = parse_targets(*t, p, tgt_len, targets)) return *bad;
    std::vector<Segment> plan;
    if (auto bad = parse_segments(p, tgt_len, seg_len, targets, plan)) return *bad;
    return run_copy(*t, plan, list_id, len);
}

Outcome receive_copy_results(const TaskPtr& t) {
    const std::uint8_t sa = t->cdb()[1] & 0x1f;
    const std::uint8_t list_id = t->cdb()[2];
    const std::uint32_t alloc = util::load_be32(t->cdb() + 10);
    std::vector<std::uint8_t> d;
    if (sa == 0x03) {  // OPERATING PARAMETERS
        d.resize(46, 0);
        d[4] = 0x01;  // SNLID: list identifiers are supported
        util::store_be16(&d[8], kMaxTargetDescriptors);
        util::store_be16(&d[10], kMaxSegmentDescriptors);
        util::store_be32(&d[12], 16 + kMaxTargetDescriptors * 32 + kMaxSegmentDescriptors * 28);
        util::store_be32(&d[16], kMaxSegmentBlocks * t->lu->block_size());
        util::store_be16(&d[34], 1);  // total concurrent copies
        d[36] = 1;                    // maximum concurrent copies
        d[37] = 9;                    // data segment granularity: 512 bytes (log2)
        d[43] = 2;                    // implemented descriptor list length
        d[44] = kSegmentBlockToBlock;
        d[45] = kTargetDescriptorIdentification;
        util::store_be32(&d[0], static_cast<std::uint32_t>(d.size() - 4));
    } else {  // COPY STATUS
        std::optional<LogicalUnit::CopyResult> found;
        {
            std::lock_guard lk(t->lu->copy_mu);
            auto it = t->lu->copy_results.find({nexus_key(*t), list_id});
            if (it != t->lu->copy_results.end()) found = it->second;
        }
        if (!found) return Outcome::check(sense::invalid_field_in_cdb(2, 7));
        const auto& r = *found;
        d.resize(12, 0);
        util::store_be32(&d[0], 8);
        d[4] = r.status;
        util::store_be16(&d[5], r.segments);
        d[7] = 0xf1;  // transfer count units: logical blocks
        util::store_be32(&d[8], static_cast<std::uint32_t>(std::min<std::uint64_t>(r.blocks, 0xffffffffu)));
    }
    d.resize(std::min<std::size_t>(d.size(), alloc));
    return reply_data(*t, d);
}

}  // namespace

void register_extended_copy(CommandTable& tab) {
    using namespace cmd_flag;
    tab.add({0x83, 0x00, "EXTENDED COPY", 16,
             {0x83, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, extended_copy,
             needs_medium | blocking});
    tab.add({0x84, 0x00, "RECEIVE COPY RESULTS", 16,
             {0x84, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, receive_copy_results,
             needs_medium | reservation_read});
    tab.add({0x84, 0x03, "RECEIVE COPY RESULTS", 16,
             {0x84, 0x1f, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, receive_copy_results,
             needs_medium | reservation_read});
}

}  // namespace vstor::scsi
