// One gateway's entry in an RBD image's port-group registry (rbd_tpg_peers.hpp): its ALUA target
// port group, the relative ports in it, the access state it reports for itself, and a heartbeat
// sequence number. Stored as one line of text under the omap key "tpg.<group>" of the object
// `vstor_alua.<image id>`, so `rados -p POOL listomapvals vstor_alua.<id>` shows it readably:
//
//   vstor-tpg 1 group=2 state=an seq=41 ports=2,3
//
// The fields are read back from the cluster (anything with access to the pool may have written
// them), so parse_tpg_entry refuses whatever is not exactly this form, with a reason.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vstor/shared_lun.hpp"

namespace vstor::backends {

struct TpgEntry {
    static constexpr std::size_t kMaxPorts = 255;  // REPORT TARGET PORT GROUPS' port count is one byte
    static constexpr std::size_t kMaxBytes = 2048;

    std::uint16_t group = 0;                  // 1..65535
    AccessState state = AccessState::active_optimized;  // as the gateway sees itself
    std::uint64_t seq = 0;                    // goes up with every write: a stalled one is stale
    std::vector<std::uint16_t> ports;         // relative target port ids (1..65535), ascending

    bool operator==(const TpgEntry&) const = default;
};

// The omap key of a group's entry: "tpg.00002".
std::string tpg_entry_key(std::uint16_t group);
// The entry as its one line (no newline). Requires a valid entry: group non-zero, ports (none
// before an initiator connected) non-zero, ascending, at most kMaxPorts.
std::string encode_tpg_entry(const TpgEntry& e);
// The entry, or nullopt with `error` saying what is wrong.
std::optional<TpgEntry> parse_tpg_entry(std::string_view text, std::string& error);

}  // namespace vstor::backends
