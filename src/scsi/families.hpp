// Registration hooks of the command families: one file per family, each adds its commands to
// the table. command_table.cpp calls them all.
#pragma once

namespace vstor::scsi {
class CommandTable;
void register_spc_basic(CommandTable& t);             // spc_basic.cpp: TUR, REQUEST SENSE, REPORT LUNS
void register_spc_inquiry(CommandTable& t);           // spc_inquiry.cpp
void register_spc_mode(CommandTable& t);              // spc_mode.cpp
void register_spc_report_supported(CommandTable& t);  // spc_report_supported.cpp
void register_spc_alua(CommandTable& t);              // spc_alua.cpp: REPORT TARGET PORT GROUPS
void register_reservations(CommandTable& t);          // reservations_commands.cpp
void register_extended_copy(CommandTable& t);         // extended_copy.cpp
void register_sbc_verify(CommandTable& t);            // sbc_verify.cpp
void register_sbc_write_same_unmap(CommandTable& t);  // sbc_write_same_unmap.cpp
void register_sbc_compare_and_write(CommandTable& t); // sbc_compare_and_write.cpp
void register_sbc_cache(CommandTable& t);             // sbc_cache.cpp
void register_sbc_medium(CommandTable& t);            // sbc_medium.cpp
void register_sbc_capacity(CommandTable& t);          // sbc_capacity.cpp
void register_sbc_read_write(CommandTable& t);        // sbc_read_write.cpp
}  // namespace vstor::scsi
