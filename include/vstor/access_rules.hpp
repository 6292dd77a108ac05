// Who may reach a target's LUNs, whatever the front end: what --chap, --allow and --mask say.
// iSCSI decides with it at login (and hands the mask to Adapter::open_nexus); NBD decides with
// it for the initiator name its TLS client identity maps to (docs/nbd.md "Access control").
// One copy of the rules, so no front end can give a client a LUN another would refuse.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

// LUN masking entry: initiator name -> the LUNs it may see and address.
using LunMask = std::pair<std::string, std::vector<std::uint16_t>>;

struct AccessRules {
    bool authentication_required = false;         // CHAP on iSCSI; a TLS client identity on NBD
    std::vector<std::string> allowed_initiators;  // empty = every initiator
    std::vector<LunMask> lun_masks;               // absent initiator = every LUN

    // Any rule at all: an anonymous client must not get past a guarded target.
    bool guarded() const { return authentication_required || !allowed_initiators.empty() || !lun_masks.empty(); }

    bool admits(const std::string& initiator) const { return admits(allowed_initiators, initiator); }
    std::optional<std::vector<std::uint16_t>> visible_luns(const std::string& initiator) const {
        return visible_luns(lun_masks, initiator);
    }
    // Admitted and the mask (if any) shows this LUN.
    bool sees(const std::string& initiator, std::uint16_t lun) const {
        if (!admits(initiator)) return false;
        const auto v = visible_luns(initiator);
        return !v || std::find(v->begin(), v->end(), lun) != v->end();
    }

    // The same checks over a front end's own copies of the lists (iscsi::TargetConfig).
    static bool admits(const std::vector<std::string>& allowed, const std::string& initiator) {
        return allowed.empty() || std::find(allowed.begin(), allowed.end(), initiator) != allowed.end();
    }
    static std::optional<std::vector<std::uint16_t>> visible_luns(const std::vector<LunMask>& masks,
                                                                  const std::string& initiator) {
        for (const auto& [name, luns] : masks)
            if (name == initiator) return luns;
        return std::nullopt;
    }
};

}  // namespace vstor

#pragma GCC visibility pop
