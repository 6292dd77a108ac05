// SPC-5 MODE SENSE (6/10) and MODE SELECT (6/10) for pages 01h, 08h, 0Ah, 1Ch (and 3Fh = all).
#include <algorithm>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/target.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {

enum class Pc { current = 0, changeable = 1, defaults = 2, saved = 3 };

using Page = std::vector<std::uint8_t>;

// Each page: its bytes for a given mode state, and which bits MODE SELECT may change.
Page rw_error_recovery(const ModeState&) {
    Page p(12, 0);
    p[0] = 0x01;
    p[1] = 10;
    p[2] = 0x80 | 0x40;  // AWRE, ARRE: reallocation is the backend's business
    return p;
}
Page caching(const ModeState& m) {
    Page p(20, 0);
    p[0] = 0x08;
    p[1] = 18;
    p[2] = static_cast<std::uint8_t>((m.wce ? 0x04 : 0) | (m.rcd ? 0x01 : 0));
    return p;
}
Page control(const ModeState& m) {
    Page p(12, 0);
    p[0] = 0x0a;
    p[1] = 10;
    p[2] = m.d_sense ? 0x04 : 0;
    p[3] = static_cast<std::uint8_t>(m.queue_alg << 4);
    p[4] = m.swp ? 0x08 : 0;
    p[5] = m.tas ? 0x40 : 0;
    util::store_be16(&p[8], 0xffff);  // busy timeout period: unlimited
    return p;
}
Page informational_exceptions(const ModeState& m) {
    Page p(12, 0);
    p[0] = 0x1c;
    p[1] = 10;
    p[2] = 0x08;  // DEXCPT: no exception reporting
    p[3] = m.mrie & 0x0f;
    return p;
}

struct PageDef {
    std::uint8_t code;
    Page (*build)(const ModeState&);
    Page changeable;
};

const std::vector<PageDef>& pages() {
    static const std::vector<PageDef> defs = {
        {0x01, rw_error_recovery, Page(12, 0)},
        {0x08, caching, [] { Page p(20, 0); p[2] = 0x05; return p; }()},              // WCE, RCD
        {0x0a, control, [] { Page p(12, 0); p[2] = 0x04; p[4] = 0x08; p[5] = 0x40; return p; }()},  // D_SENSE, SWP, TAS
        {0x1c, informational_exceptions, [] { Page p(12, 0); p[3] = 0x0f; return p; }()},  // MRIE
    };
    return defs;
}

ModeState defaults_for(const LogicalUnit& lu) {
    ModeState d;
    d.wce = lu.backend().caps().write_cache;
    return d;
}

Page render(const PageDef& def, Pc pc, const LogicalUnit& lu) {
    Page p;
    switch (pc) {
        case Pc::changeable:
            p = def.changeable;
            p[0] = def.code;
            p[1] = static_cast<std::uint8_t>(def.changeable.size() - 2);
            break;
        case Pc::defaults: p = def.build(defaults_for(lu)); break;
        default: p = def.build(lu.mode()); break;
    }
    return p;
}

Outcome mode_sense(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const bool ten = cdb[0] == 0x5a;
    const bool dbd = cdb[1] & 0x08;
    const bool llbaa = ten && (cdb[1] & 0x10);
    const auto pc = static_cast<Pc>(cdb[2] >> 6);
    const std::uint8_t page = cdb[2] & 0x3f;
    const std::uint8_t subpage = cdb[3];
    const std::uint32_t alloc = ten ? util::load_be16(cdb + 7) : cdb[4];
    if (pc == Pc::saved) return Outcome::check(sense::saving_parameters_not_supported());
    if (subpage != 0 && !(page == 0x3f && subpage == 0xff)) return Outcome::check(sense::invalid_field_in_cdb(3, 7));

    Page body;
    bool found = false;
    for (const auto& def : pages()) {
        if (page != 0x3f && page != def.code) continue;
        const Page p = render(def, pc, *t->lu);
        body.insert(body.end(), p.begin(), p.end());
        found = true;
    }
    if (!found) return Outcome::check(sense::invalid_field_in_cdb(2, 5));

    const LogicalUnit& lu = *t->lu;
    Page desc;
    if (!dbd) {
        const std::uint64_t blocks = lu.block_count();
        if (llbaa) {
            desc.resize(16, 0);
            util::store_be64(&desc[0], blocks);
            util::store_be32(&desc[12], lu.block_size());
        } else {
            desc.resize(8, 0);
            util::store_be32(&desc[0], blocks > 0xffffffffull ? 0xffffffffu : static_cast<std::uint32_t>(blocks));
            util::store_be24(&desc[5], lu.block_size());
        }
    }
    const std::uint8_t device_specific = static_cast<std::uint8_t>((lu.read_only() ? 0x80 : 0) | 0x10);  // WP, DPOFUA
    Page out;
    if (ten) {
        out.resize(8, 0);
        out[3] = device_specific;
        out[4] = llbaa && !dbd ? 0x01 : 0;
        util::store_be16(&out[6], static_cast<std::uint16_t>(desc.size()));
    } else {
        out.resize(4, 0);
        out[2] = device_specific;
        out[3] = static_cast<std::uint8_t>(desc.size());
    }
    out.insert(out.end(), desc.begin(), desc.end());
    out.insert(out.end(), body.begin(), body.end());
    if (ten)
        util::store_be16(&out[0], static_cast<std::uint16_t>(out.size() - 2));
    else
        out[0] = static_cast<std::uint8_t>(std::min<std::size_t>(out.size() - 1, 255));
    out.resize(std::min<std::size_t>(out.size(), alloc));
    return reply_data(*t, out);
}

// SPC-5 6.11: validates the whole parameter list before changing anything.
Outcome mode_select(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const bool ten = cdb[0] == 0x55;
    const std::uint32_t len = ten ? util::load_be16(cdb + 7) : cdb[4];
    if (cdb[1] & 0x01) return Outcome::check(sense::invalid_field_in_cdb(1, 0));  // SP: nothing is saved
    if (len == 0) return Outcome::good();
    if (t->cmd.data.size() < len) return Outcome::check(sense::param_list_length_error());
    const auto* p = reinterpret_cast<const std::uint8_t*>(t->cmd.data.data());
    const std::size_t hdr = ten ? 8 : 4;
    if (len < hdr) return Outcome::check(sense::param_list_length_error());
    const std::size_t desc_len = ten ? util::load_be16(p + 6) : p[3];
    if (hdr + desc_len > len) return Outcome::check(sense::param_list_length_error());
    LogicalUnit& lu = *t->lu;
    // A block descriptor may restate the block size but not change it.
    const bool longlba = ten && (p[4] & 1);
    const std::size_t step = longlba ? 16 : 8;
    if (desc_len % step) return Outcome::check(sense::invalid_field_in_param(ten ? 6 : 3, 7));
    for (std::size_t d = hdr; d + step <= hdr + desc_len; d += step) {
        const std::uint32_t bl = longlba ? util::load_be32(p + d + 12) : util::load_be24(p + d + 5);
        if (bl != lu.block_size())
            return Outcome::check(sense::invalid_field_in_param(static_cast<std::uint16_t>(d + (longlba ? 12 : 5)), 7));
    }
    ModeState next = lu.mode();
    std::size_t pos = hdr + desc_len;
    while (pos < len) {
        if (pos + 2 > len) return Outcome::check(sense::param_list_length_error());
        const std::uint8_t code = p[pos] & 0x3f;
        if (p[pos] & 0x40) return Outcome::check(sense::invalid_field_in_param(static_cast<std::uint16_t>(pos), 6));  // SPF
        const std::size_t plen = std::size_t{p[pos + 1]} + 2;
        if (pos + plen > len) return Outcome::check(sense::param_list_length_error());
        const PageDef* def = nullptr;
        for (const auto& d : pages())
            if (d.code == code) def = &d;
        if (!def) return Outcome::check(sense::invalid_field_in_param(static_cast<std::uint16_t>(pos), 5));
        const Page cur = def->build(lu.mode());
        if (plen != cur.size()) return Outcome::check(sense::invalid_field_in_param(static_cast<std::uint16_t>(pos + 1), 7));
        for (std::size_t i = 2; i < plen; ++i) {
            const std::uint8_t diff = static_cast<std::uint8_t>((p[pos + i] ^ cur[i]) & ~def->changeable[i]);
            if (diff) {
                std::uint8_t bit = 7;
                while (!(diff & (1u << bit))) --bit;
                return Outcome::check(sense::invalid_field_in_param(static_cast<std::uint16_t>(pos + i), bit));
            }
        }
        const std::uint8_t* pg = p + pos;
        switch (code) {
            case 0x08: next.wce = pg[2] & 0x04; next.rcd = pg[2] & 0x01; break;
            case 0x0a: next.d_sense = pg[2] & 0x04; next.swp = pg[4] & 0x08; next.tas = pg[5] & 0x40; break;
            case 0x1c: next.mrie = pg[3] & 0x0f; break;
            default: break;
        }
        pos += plen;
    }
    const ModeState before = lu.mode();
    lu.set_mode(next);
    const bool changed = before.wce != next.wce || before.rcd != next.rcd || before.d_sense != next.d_sense ||
                         before.swp != next.swp || before.tas != next.tas || before.mrie != next.mrie;
    // SPC-5 7.5: other initiators learn of the change through a unit attention.
    if (changed) lu.target().broadcast_ua(lu.lun(), sense::ua_mode_parameters_changed(), t->nexus);
    return Outcome::good(len);
}

}  // namespace

void register_spc_mode(CommandTable& tab) {
    using namespace cmd_flag;
    tab.add({0x1a, std::nullopt, "MODE SENSE(6)", 6, {0x1a, 0x08, 0xff, 0xff, 0xff, 0}, mode_sense, reservation_read});
    tab.add({0x5a, std::nullopt, "MODE SENSE(10)", 10, {0x5a, 0x18, 0xff, 0xff, 0, 0, 0, 0xff, 0xff, 0}, mode_sense,
             reservation_read});
    tab.add({0x15, std::nullopt, "MODE SELECT(6)", 6, {0x15, 0x11, 0, 0, 0xff, 0}, mode_select, none});
    tab.add({0x55, std::nullopt, "MODE SELECT(10)", 10, {0x55, 0x11, 0, 0, 0, 0, 0, 0xff, 0xff, 0}, mode_select, none});
}

}  // namespace vstor::scsi
