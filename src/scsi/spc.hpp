// Registration hooks of the SPC command families (one file each).
#pragma once

namespace vstor::scsi {
class CommandTable;
void register_spc_basic(CommandTable& t);     // spc_basic.cpp
void register_spc_inquiry(CommandTable& t);   // spc_inquiry.cpp
}  // namespace vstor::scsi
