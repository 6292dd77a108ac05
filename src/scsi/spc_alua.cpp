// SPC-5 6.37 REPORT TARGET PORT GROUPS (MAINTENANCE IN, service action 0Ah) on a shared LUN
// (scsi/lun_alua.hpp): this gateway's target port group, its state and its ports. Other LUNs do
// not implement it (no TPGS in their standard INQUIRY data).
#include <algorithm>
#include <vector>

#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/lun_alua.hpp"
#include "scsi/target.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

namespace {

// Seconds an initiator should allow an implicit transition (the header's IMPLICIT TRANSITION
// TIME): an RBD takeover breaks a dead owner's lock and waits for librbd's lock request to time out.
constexpr std::uint8_t kImplicitTransitionSeconds = 10;

// The relative ports of this group an initiator is connected through now (its own first).
std::vector<std::uint16_t> group_ports(const Task& t) {
    std::vector<std::uint16_t> ports{t.nexus->relative_port()};
    for (const auto& n : t.target->nexuses())
        if (n->port_group() == t.nexus->port_group() && !std::count(ports.begin(), ports.end(), n->relative_port()))
            ports.push_back(n->relative_port());
    std::sort(ports.begin() + 1, ports.end());
    return ports;
}

Outcome report_target_port_groups(const TaskPtr& t) {
    const std::uint8_t format = t->cdb()[1] >> 5;
    if (format > 1) return Outcome::check(sense::invalid_field_in_cdb(1, 7));
    const std::uint32_t alloc = util::load_be32(t->cdb() + 6);
    const LunAlua& alua = *t->lu->alua();
    const auto ports = group_ports(*t);
    std::vector<std::uint8_t> d(format == 1 ? 8 : 4, 0);
    if (format == 1) {
        d[4] = 0x10;  // format type 001b: extended header
        d[5] = kImplicitTransitionSeconds;
    }
    // One target port group descriptor (SPC-5 table 204): PREF 0, the state; supported states
    // active/optimized and active/non-optimized (the only two this LU enters).
    const std::size_t at = d.size();
    d.resize(at + 8 + 4 * ports.size(), 0);
    d[at] = static_cast<std::uint8_t>(alua.state());
    d[at + 1] = 0x02 | 0x01;  // AN_SUP, AO_SUP
    util::store_be16(&d[at + 2], t->nexus->port_group());
    d[at + 5] = alua.changed_implicitly() ? 0x02 : 0x00;  // status: altered by implicit behavior
    d[at + 7] = static_cast<std::uint8_t>(ports.size());
    for (std::size_t i = 0; i < ports.size(); ++i) util::store_be16(&d[at + 8 + 4 * i + 2], ports[i]);
    util::store_be32(d.data(), static_cast<std::uint32_t>(d.size() - 4));
    d.resize(std::min<std::size_t>(d.size(), alloc));
    return reply_data(*t, d);
}

bool has_alua(const LogicalUnit& lu) { return lu.alua() != nullptr; }

}  // namespace

void register_spc_alua(CommandTable& tab) {
    using namespace cmd_flag;
    CommandInfo rtpg{0xa3, 0x0a, "REPORT TARGET PORT GROUPS", 12,
                     {0xa3, 0x3f, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0}, report_target_port_groups,
                     reservation_any | allowed_while_sanitizing};
    rtpg.enabled = has_alua;
    tab.add(rtpg);
}

}  // namespace vstor::scsi
