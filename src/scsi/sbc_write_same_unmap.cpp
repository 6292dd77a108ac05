// SBC-4 WRITE SAME (10/16), UNMAP, GET LBA STATUS.
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_sbc_write_same_unmap(CommandTable&) {}

}  // namespace vstor::scsi
