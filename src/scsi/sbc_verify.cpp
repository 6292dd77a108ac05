// SBC-4 VERIFY and WRITE AND VERIFY (10/12/16).
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_sbc_verify(CommandTable&) {}

}  // namespace vstor::scsi
