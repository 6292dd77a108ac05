// RESERVE/RELEASE (6/10) and PERSISTENT RESERVE IN/OUT: table entries; the logic is in
// persistent_reservations.cpp.
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"
#include "scsi/persistent_reservations.hpp"

namespace vstor::scsi {

void register_reservations(CommandTable& tab) {
    using namespace cmd_flag;
    const auto any = reservation_any;
    tab.add({0x16, std::nullopt, "RESERVE(6)", 6, {0x16, 0, 0, 0, 0, 0}, Reservations::reserve, none});
    tab.add({0x17, std::nullopt, "RELEASE(6)", 6, {0x17, 0, 0, 0, 0, 0}, Reservations::release, none});
    tab.add({0x56, std::nullopt, "RESERVE(10)", 10, {0x56, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Reservations::reserve, none});
    tab.add({0x57, std::nullopt, "RELEASE(10)", 10, {0x57, 0, 0, 0, 0, 0, 0, 0, 0, 0}, Reservations::release, none});
    for (std::uint16_t sa = 0; sa <= 3; ++sa)
        tab.add({0x5e, sa, "PERSISTENT RESERVE IN", 10, {0x5e, 0x1f, 0, 0, 0, 0, 0, 0xff, 0xff, 0},
                 Reservations::pr_in, any});
    for (std::uint16_t sa = 0; sa <= 6; ++sa)
        tab.add({0x5f, sa, "PERSISTENT RESERVE OUT", 10, {0x5f, 0x1f, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff, 0},
                 Reservations::pr_out, any});
}

}  // namespace vstor::scsi
