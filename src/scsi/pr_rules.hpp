// The rules of PERSISTENT RESERVE OUT (SPC-5 6.16, 5.14.11) as a function of a state: one
// service action applied to a PrState, and how the command ends. Pure: the same function serves
// a LUN's own state (under its lock) and a state read from a shared store (retried on conflict).
#pragma once

#include <cstdint>
#include <string>

#include "scsi/pr_state.hpp"
#include "scsi/task.hpp"

namespace vstor::scsi {

// PERSISTENT RESERVE OUT's parameter list: without SPEC_I_PT it is always 24 bytes.
inline constexpr std::uint32_t kPrOutParamListLength = 24;

// One PERSISTENT RESERVE OUT, its CDB and parameter list checked.
struct PrOut {
    std::uint8_t sa = 0, scope = 0, type = 0;
    std::uint64_t key = 0, sa_key = 0;
    bool aptpl = false;
    std::string me;  // the sender's I_T nexus (pr_nexus_id)
    std::string initiator_port;
    std::uint16_t relative_port = 0;
};

// Applies `rq` to `s`. When the outcome is GOOD, `s` is the new state (commit() done, unit
// attentions for other nexuses in s.uas); otherwise `s` may be half changed and must be dropped.
Outcome apply_pr_out(PrState& s, const PrOut& rq);

}  // namespace vstor::scsi
