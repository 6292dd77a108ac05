// SBC-4 SYNCHRONIZE CACHE (10/16), PRE-FETCH (10/16).
#include "scsi/command_table.hpp"
#include "scsi/families.hpp"

namespace vstor::scsi {

void register_sbc_cache(CommandTable&) {}

}  // namespace vstor::scsi
