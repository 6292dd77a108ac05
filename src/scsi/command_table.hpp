// The one table of implemented commands. Dispatch, CDB reserved-bit checks and REPORT SUPPORTED
// OPERATION CODES all read it, so what is reported cannot drift from what is implemented.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "scsi/task.hpp"

namespace vstor::scsi {

// A command's handler returns how the command ended, or Outcome::pending() when an asynchronous
// step (a backend callback, a worker) will complete it through Task::complete; the engine
// completes every other outcome (dispatch.cpp, execute).
using Handler = Outcome (*)(const TaskPtr&);

namespace cmd_flag {
inline constexpr std::uint32_t none = 0;
inline constexpr std::uint32_t needs_medium = 1u << 0;    // NOT READY when no medium / stopped / sanitizing
inline constexpr std::uint32_t no_unit_attention = 1u << 1;  // INQUIRY, REPORT LUNS, REQUEST SENSE
inline constexpr std::uint32_t blocking = 1u << 2;        // run on the engine's worker pool
inline constexpr std::uint32_t writes_medium = 1u << 3;   // DATA PROTECT on a read-only LUN
inline constexpr std::uint32_t reservation_read = 1u << 4;  // allowed for non-holders under Write Exclusive
inline constexpr std::uint32_t reservation_any = 1u << 5;   // always allowed under any reservation (SPC-5 table 68)
inline constexpr std::uint32_t no_lun_needed = 1u << 6;   // valid for a LUN that does not exist
inline constexpr std::uint32_t allowed_while_sanitizing = 1u << 7;
}  // namespace cmd_flag

struct CommandInfo {
    std::uint8_t opcode;
    std::optional<std::uint16_t> service_action;  // in CDB byte 1 bits 4..0 (or bytes 8-9 for 0x7F)
    const char* name;
    std::uint8_t cdb_len;
    // CDB usage data (SPC-5 6.35.3): which bits the initiator may set. Byte 0 = opcode.
    std::array<std::uint8_t, 16> usage;
    Handler handler;
    std::uint32_t flags;
    std::uint32_t timeout_s = 0;  // nominal timeout for the timeouts descriptor (0 = none)
    // Per LUN, as LIO's opcode descriptors (`enabled`, `update_usage_bits`) do it: whether this
    // LUN implements the command at all (nullptr: every LUN does), and which of `usage`'s bits it
    // evaluates (nullptr: all of them). Dispatch refuses a command a LUN does not implement as an
    // unknown opcode and a bit it does not evaluate as a reserved one; REPORT SUPPORTED OPERATION
    // CODES reports both per LUN. E.g. UNMAP, and WRITE SAME's UNMAP bit, only on a thin LUN.
    bool (*enabled)(const LogicalUnit&) = nullptr;
    void (*usage_on)(const LogicalUnit&, std::array<std::uint8_t, 16>& usage) = nullptr;
};

// The command as `lu` implements it (a command to no LUN: as registered).
bool enabled_on(const CommandInfo& info, const LogicalUnit* lu);
std::array<std::uint8_t, 16> usage_on(const CommandInfo& info, const LogicalUnit* lu);

// Indexed by opcode when the commands register: finding a CDB's command is one array step plus,
// for opcodes with service actions, a search among that opcode's few entries.
class CommandTable {
public:
    static const CommandTable& instance();

    // Registers a command; an opcode is either plain or has service actions, each added once.
    void add(const CommandInfo& info);
    // nullptr if the opcode (or its service action) is not implemented.
    const CommandInfo* find(std::uint8_t opcode, std::optional<std::uint16_t> sa) const;
    // The command a CDB names (its service action read where the opcode has them), or nullptr.
    const CommandInfo* lookup(const std::uint8_t* cdb) const;
    bool opcode_has_service_actions(std::uint8_t opcode) const { return slots_[opcode].has_sa; }
    // In registration order (REPORT SUPPORTED OPERATION CODES lists them so).
    const std::vector<CommandInfo>& all() const { return entries_; }

private:
    struct Slot {
        bool has_sa = false;
        std::vector<std::uint16_t> entries;  // indexes into entries_: one, or one per service action
    };
    std::vector<CommandInfo> entries_;
    std::array<Slot, 256> slots_{};
};

// First CDB bit set outside the usage `lu` reports -> INVALID FIELD IN CDB pointing at it: what
// REPORT SUPPORTED OPERATION CODES says a LUN evaluates is what it accepts.
std::optional<Sense> check_reserved_bits(const CommandInfo& info, const LogicalUnit* lu, const std::uint8_t* cdb);

}  // namespace vstor::scsi
