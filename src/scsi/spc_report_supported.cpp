// SPC-5 REPORT SUPPORTED OPERATION CODES / TASK MANAGEMENT FUNCTIONS.
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_spc_report_supported(CommandTable&) {}

}  // namespace vstor::scsi
