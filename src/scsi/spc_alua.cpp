// SPC-5 6.37 REPORT TARGET PORT GROUPS (MAINTENANCE IN, service action 0Ah) on a shared LUN
// (scsi/lun_alua.hpp): this gateway's target port group, its state and its ports, then the other
// gateways' groups as the backend knows them (SharedLunPortGroups). Other LUNs do not implement
// it (no TPGS in their standard INQUIRY data).
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

// One target port group descriptor (SPC-5 table 204): PREF 0, the state, the supported states
// (active/optimized and non-optimized, as on a live lock holder or not; unavailable and
// transitioning, as a gateway reports another that stopped answering or one that reconnects), the
// status code and the relative ports.
void append_group(std::vector<std::uint8_t>& d, const TargetPortGroup& g, std::uint8_t status) {
    const std::size_t ports = std::min<std::size_t>(g.relative_ports.size(), 255);
    const std::size_t at = d.size();
    d.resize(at + 8 + 4 * ports, 0);
    d[at] = static_cast<std::uint8_t>(g.state);
    d[at + 1] = 0x80 | 0x08 | 0x02 | 0x01;  // T_SUP, U_SUP, AN_SUP, AO_SUP
    util::store_be16(&d[at + 2], g.group);
    d[at + 5] = status;
    d[at + 7] = static_cast<std::uint8_t>(ports);
    for (std::size_t i = 0; i < ports; ++i) util::store_be16(&d[at + 8 + 4 * i + 2], g.relative_ports[i]);
}

Outcome report_target_port_groups(const TaskPtr& t) {
    const std::uint8_t format = t->cdb()[1] >> 5;
    if (format > 1) return Outcome::check(sense::invalid_field_in_cdb(1, 7));
    const std::uint32_t alloc = util::load_be32(t->cdb() + 6);
    const LunAlua& alua = *t->lu->alua();
    std::vector<std::uint8_t> d(format == 1 ? 8 : 4, 0);
    if (format == 1) {
        d[4] = 0x10;  // format type 001b: extended header
        d[5] = kImplicitTransitionSeconds;
    }
    // This gateway's group first (status 02h: altered by implicit behavior), then the others'.
    const std::uint16_t own = t->nexus->port_group();
    append_group(d, TargetPortGroup{own, alua.state(), group_ports(*t)}, alua.changed_implicitly() ? 0x02 : 0x00);
    for (const auto& g : alua.peer_groups())
        if (g.group != own) append_group(d, g, 0x00);
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
