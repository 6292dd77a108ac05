// EXTENDED COPY (LID1) and RECEIVE COPY RESULTS.
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_extended_copy(CommandTable&) {}

}  // namespace vstor::scsi
