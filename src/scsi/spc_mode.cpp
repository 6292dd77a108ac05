// SPC-5 MODE SENSE/MODE SELECT (6/10).
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_spc_mode(CommandTable&) {}

}  // namespace vstor::scsi
