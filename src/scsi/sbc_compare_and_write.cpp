// SBC-4 COMPARE AND WRITE, ORWRITE(16), WRITE ATOMIC(16).
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_sbc_compare_and_write(CommandTable&) {}

}  // namespace vstor::scsi
