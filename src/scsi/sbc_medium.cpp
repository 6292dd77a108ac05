// SBC-4 START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, READ DEFECT DATA, SANITIZE, FORMAT UNIT.
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_sbc_medium(CommandTable&) {}

}  // namespace vstor::scsi
