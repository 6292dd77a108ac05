// SPC-5 basics: TEST UNIT READY, REQUEST SENSE, REPORT LUNS.
#include <algorithm>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/nexus_state.hpp"
#include "scsi/families.hpp"
#include "scsi/target.hpp"
#include "util/endian.hpp"
#include "vstor/lun_address.hpp"

namespace vstor::scsi {

using util::load_be16;
using util::load_be32;
using util::store_be32;

namespace {

Outcome test_unit_ready(const TaskPtr&) { return Outcome::good(); }

// SPC-5 6.39: returns (and clears) a pending unit attention, else the current condition.
Outcome request_sense(const TaskPtr& t) {
    const bool desc = t->cdb()[1] & 0x01;
    const std::uint8_t alloc = t->cdb()[4];
    Sense s;  // NO SENSE
    if (!t->lu) {
        s = sense::invalid_lun();
    } else if (auto ua = t->nexus ? t->nexus->take_ua(t->lun_id) : std::nullopt) {
        s = *ua;
    } else if (const int p = t->lu->sanitize_progress.load(); p >= 0) {
        s = sense::not_ready_sanitize_in_progress(static_cast<std::uint16_t>(p));
    } else if (!t->lu->medium_present.load()) {
        s = sense::medium_not_present();
    }
    std::uint8_t buf[252];
    const auto n = desc ? encode_descriptor(s, buf, sizeof buf) : encode_fixed(s, buf, sizeof buf);
    return reply_data(*t, {buf, std::min<std::size_t>(n, alloc)});
}

// SPC-5 6.33: SELECT REPORT 00h/02h list LUNs, 01h well-known LUNs only (we have REPORT LUNS WLUN).
Outcome report_luns(const TaskPtr& t) {
    const std::uint8_t select = t->cdb()[2];
    const std::uint32_t alloc = load_be32(t->cdb() + 6);
    if (select > 0x02 && select != 0x10 && select != 0x11 && select != 0x12) {
        return Outcome::check(sense::invalid_field_in_cdb(2, 7));
    }
    if (alloc < 16) {  // SPC-5: allocation length below 16 is an error
        return Outcome::check(sense::invalid_field_in_cdb(6, 7));
    }
    std::vector<std::uint64_t> luns;
    if (select == 0x00 || select == 0x02 || select == 0x11) {
        for (auto id : t->target->lun_ids())
            if (!t->nexus || t->nexus->sees(id)) luns.push_back(encode_sam_lun(id));
    }
    if (select == 0x01 || select == 0x02) luns.push_back(kReportLunsWellKnownLun);
    std::vector<std::uint8_t> out(8 + 8 * luns.size());
    store_be32(out.data(), static_cast<std::uint32_t>(8 * luns.size()));
    for (std::size_t i = 0; i < luns.size(); ++i) util::store_be64(out.data() + 8 + 8 * i, luns[i]);
    out.resize(std::min<std::size_t>(out.size(), alloc));
    return reply_data(*t, out);
}

}  // namespace

void register_spc_basic(CommandTable& tab) {
    using namespace cmd_flag;
    tab.add({0x00, std::nullopt, "TEST UNIT READY", 6, {0x00, 0, 0, 0, 0, 0}, test_unit_ready, needs_medium | reservation_any});
    tab.add({0x03, std::nullopt, "REQUEST SENSE", 6, {0x03, 0x01, 0, 0, 0xff, 0}, request_sense,
             no_unit_attention | no_lun_needed | reservation_any | allowed_while_sanitizing});
    tab.add({0xa0, std::nullopt, "REPORT LUNS", 12, {0xa0, 0, 0xff, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0},
             report_luns, no_unit_attention | no_lun_needed | reservation_any | allowed_while_sanitizing});
}

}  // namespace vstor::scsi
