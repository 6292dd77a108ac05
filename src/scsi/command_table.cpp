#include "scsi/command_table.hpp"

#include "scsi/families.hpp"
#include "util/endian.hpp"

namespace vstor::scsi {

const CommandTable& CommandTable::instance() {
    static const CommandTable table = [] {
        CommandTable t;
        register_spc_basic(t);
        register_spc_inquiry(t);
        register_spc_mode(t);
        register_spc_report_supported(t);
        register_reservations(t);
        register_extended_copy(t);
        register_sbc_capacity(t);
        register_sbc_read_write(t);
        register_sbc_verify(t);
        register_sbc_write_same_unmap(t);
        register_sbc_compare_and_write(t);
        register_sbc_cache(t);
        register_sbc_medium(t);
        return t;
    }();
    return table;
}

void CommandTable::add(const CommandInfo& info) { entries_.push_back(info); }

const CommandInfo* CommandTable::find(std::uint8_t opcode, std::optional<std::uint16_t> sa) const {
    for (const auto& e : entries_)
        if (e.opcode == opcode && e.service_action == sa) return &e;
    return nullptr;
}

bool CommandTable::opcode_has_service_actions(std::uint8_t opcode) const {
    for (const auto& e : entries_)
        if (e.opcode == opcode && e.service_action) return true;
    return false;
}

std::optional<std::uint16_t> service_action_of(std::uint8_t opcode, const std::uint8_t* cdb) {
    if (!CommandTable::instance().opcode_has_service_actions(opcode)) return std::nullopt;
    if (opcode == 0x7f) return util::load_be16(cdb + 8);  // variable-length CDB
    return static_cast<std::uint16_t>(cdb[1] & 0x1f);
}

std::optional<Sense> check_reserved_bits(const CommandInfo& info, const std::uint8_t* cdb) {
    for (std::uint16_t i = 1; i < info.cdb_len && i < info.usage.size(); ++i) {
        const std::uint8_t bad = cdb[i] & static_cast<std::uint8_t>(~info.usage[i]);
        if (!bad) continue;
        std::uint8_t bit = 7;
        while (!(bad & (1u << bit))) --bit;
        return sense::invalid_field_in_cdb(i, bit);
    }
    return std::nullopt;
}

}  // namespace vstor::scsi
