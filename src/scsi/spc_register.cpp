#include "scsi/command_table.hpp"
#include "scsi/spc.hpp"

namespace vstor::scsi {

void register_spc_commands(CommandTable& t) {
    register_spc_basic(t);
    register_spc_inquiry(t);
}

}  // namespace vstor::scsi
