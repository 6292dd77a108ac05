#include "scsi/command_table.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>

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
        register_spc_alua(t);
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

void CommandTable::add(const CommandInfo& info) {
    Slot& slot = slots_[info.opcode];
    // A registration mistake (an opcode both plain and with service actions, or added twice)
    // would make lookups ambiguous: fail at startup, in every build.
    if ((!slot.entries.empty() && slot.has_sa != info.service_action.has_value()) ||
        find(info.opcode, info.service_action)) {
        spdlog::critical("command table: {} ({:#04x}) registered twice or inconsistently", info.name, info.opcode);
        std::abort();
    }
    slot.has_sa = info.service_action.has_value();
    slot.entries.push_back(static_cast<std::uint16_t>(entries_.size()));
    entries_.push_back(info);
}

const CommandInfo* CommandTable::find(std::uint8_t opcode, std::optional<std::uint16_t> sa) const {
    const Slot& slot = slots_[opcode];
    if (slot.has_sa != sa.has_value()) return nullptr;
    for (const std::uint16_t i : slot.entries)
        if (entries_[i].service_action == sa) return &entries_[i];
    return nullptr;
}

const CommandInfo* CommandTable::lookup(const std::uint8_t* cdb) const {
    const std::uint8_t opcode = cdb[0];
    const Slot& slot = slots_[opcode];
    if (!slot.has_sa) return slot.entries.empty() ? nullptr : &entries_[slot.entries[0]];
    // The service action: CDB byte 1 bits 4..0, or bytes 8-9 of a variable-length CDB.
    const std::uint16_t sa = opcode == 0x7f ? util::load_be16(cdb + 8) : static_cast<std::uint16_t>(cdb[1] & 0x1f);
    return find(opcode, sa);
}

bool enabled_on(const CommandInfo& info, const LogicalUnit* lu) {
    return !lu || !info.enabled || info.enabled(*lu);
}

std::array<std::uint8_t, 16> usage_on(const CommandInfo& info, const LogicalUnit* lu) {
    auto usage = info.usage;
    if (lu && info.usage_on) info.usage_on(*lu, usage);
    return usage;
}

std::optional<Sense> check_reserved_bits(const CommandInfo& info, const LogicalUnit* lu, const std::uint8_t* cdb) {
    const auto usage = usage_on(info, lu);
    for (std::uint16_t i = 1; i < info.cdb_len && i < usage.size(); ++i) {
        const std::uint8_t bad = cdb[i] & static_cast<std::uint8_t>(~usage[i]);
        if (!bad) continue;
        std::uint8_t bit = 7;
        while (!(bad & (1u << bit))) --bit;
        return sense::invalid_field_in_cdb(i, bit);
    }
    return std::nullopt;
}

}  // namespace vstor::scsi
