// SPC-5 REPORT SUPPORTED OPERATION CODES and REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS, both
// generated from the command table so they cannot drift from what is implemented. Per LUN: a
// command the LUN does not implement is not listed, and the usage data are the bits it evaluates
// (enabled_on/usage_on, the same the dispatcher enforces).
#include <algorithm>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {

void append_timeouts(std::vector<std::uint8_t>& d, const CommandInfo& c) {
    const std::size_t at = d.size();
    d.resize(at + 12, 0);
    util::store_be16(&d[at], 0x0a);
    util::store_be32(&d[at + 4], c.timeout_s);        // nominal command processing timeout
    util::store_be32(&d[at + 8], c.timeout_s ? c.timeout_s * 2 : 0);  // recommended timeout
}

Outcome report_supported_opcodes(const TaskPtr& t) {
    const std::uint8_t* cdb = t->cdb();
    const bool rctd = cdb[2] & 0x80;
    const std::uint8_t options = cdb[2] & 0x07;
    const std::uint8_t opcode = cdb[3];
    const std::uint16_t sa = util::load_be16(cdb + 4);
    const std::uint32_t alloc = util::load_be32(cdb + 6);
    const auto& table = CommandTable::instance();
    std::vector<std::uint8_t> d;
    if (options == 0) {
        d.resize(4, 0);
        for (const auto& c : table.all()) {
            if (!enabled_on(c, t->lu.get())) continue;
            const std::size_t at = d.size();
            d.resize(at + 8, 0);
            d[at] = c.opcode;
            if (c.service_action) util::store_be16(&d[at + 2], *c.service_action);
            d[at + 5] = static_cast<std::uint8_t>((rctd ? 0x02 : 0) | (c.service_action ? 0x01 : 0));
            util::store_be16(&d[at + 6], c.cdb_len);
            if (rctd) append_timeouts(d, c);
        }
        util::store_be32(&d[0], static_cast<std::uint32_t>(d.size() - 4));
    } else if (options <= 3) {
        const bool has_sa = table.opcode_has_service_actions(opcode);
        // Options 1 asks about an opcode without service actions, 2 about one with them.
        if ((options == 1 && has_sa) || (options == 2 && !has_sa))
            return Outcome::check(sense::invalid_field_in_cdb(2, 2));
        const CommandInfo* c = table.find(opcode, has_sa ? std::optional<std::uint16_t>(sa) : std::nullopt);
        d.resize(4, 0);
        if (!c || !enabled_on(*c, t->lu.get())) {
            d[1] = 0x01;  // not supported
        } else {
            d[1] = static_cast<std::uint8_t>((rctd ? 0x80 : 0) | 0x03);  // supported as the standard says
            util::store_be16(&d[2], c->cdb_len);
            const auto usage = usage_on(*c, t->lu.get());
            d.insert(d.end(), usage.begin(), usage.begin() + c->cdb_len);
            if (rctd) append_timeouts(d, *c);
        }
    } else {
        return Outcome::check(sense::invalid_field_in_cdb(2, 2));
    }
    d.resize(std::min<std::size_t>(d.size(), alloc));
    return reply_data(*t, d);
}

Outcome report_supported_tmfs(const TaskPtr& t) {
    const bool repd = t->cdb()[2] & 0x80;
    const std::uint32_t alloc = util::load_be32(t->cdb() + 6);
    std::vector<std::uint8_t> d(repd ? 16 : 4, 0);
    // ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET, QUERY TASK, TARGET RESET.
    d[0] = 0x80 | 0x40 | 0x10 | 0x08 | 0x04 | 0x02;
    d[1] = 0x01;  // I_T NEXUS RESET
    if (repd) d[3] = 0x0c;
    d.resize(std::min<std::size_t>(d.size(), alloc));
    return reply_data(*t, d);
}

}  // namespace

void register_spc_report_supported(CommandTable& tab) {
    using namespace cmd_flag;
    const auto f = no_lun_needed | reservation_any | allowed_while_sanitizing;
    tab.add({0xa3, 0x0c, "REPORT SUPPORTED OPERATION CODES", 12,
             {0xa3, 0x1f, 0x87, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0}, report_supported_opcodes, f});
    tab.add({0xa3, 0x0d, "REPORT SUPPORTED TASK MANAGEMENT FUNCTIONS", 12,
             {0xa3, 0x1f, 0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, report_supported_tmfs, f});
}

}  // namespace vstor::scsi
