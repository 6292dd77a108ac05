// RESERVE/RELEASE(6/10), PERSISTENT RESERVE IN/OUT.
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_reservations(CommandTable&) {}

}  // namespace vstor::scsi
