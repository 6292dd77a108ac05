// The persistent reservation state of one logical unit as a value: registrations (one per I_T
// nexus), the reservation, the generation and APTPL, and the unit attentions a change left for
// other nexuses. A LUN served by several gateways keeps it in a shared store
// (vstor/reservation_store.hpp) as bytes: serialize() and parse() below, a versioned format read
// back from the cluster and so checked like any untrusted input.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vstor::scsi {

struct PrRegistration {
    std::string nexus;  // initiator port name + relative target port: one I_T nexus (pr_nexus_id)
    std::string initiator_port;
    std::uint16_t relative_port = 0;
    std::uint64_t key = 0;
};

struct PrHolder {
    std::string nexus;  // empty for the all-registrants types
    std::uint8_t type = 0;
};

// A unit attention a change established for another I_T nexus (SPC-5 5.14.11: REGISTRATIONS
// PREEMPTED, RESERVATIONS PREEMPTED, RESERVATIONS RELEASED), for whichever gateway serves it.
struct PrUnitAttention {
    std::uint64_t seq = 0;  // the change (PrState::seq) that made it
    std::string nexus;
    std::uint8_t asc = 0, ascq = 0;
};

struct PrState {
    std::vector<PrRegistration> regs;
    std::optional<PrHolder> holder;
    std::uint32_t generation = 0;  // PRgeneration (SPC-5 6.15.2)
    bool aptpl = false;
    std::uint64_t seq = 0;  // changes made so far: a gateway adopts only a newer state
    std::vector<PrUnitAttention> uas;  // of the last kUaChanges changes

    static constexpr std::uint64_t kUaChanges = 16;
    static constexpr std::size_t kMaxRegistrations = 4096;
    static constexpr std::size_t kMaxName = 1024;

    const PrRegistration* find(const std::string& nexus) const;
    PrRegistration* find(const std::string& nexus);
    bool holds(const std::string& nexus) const;
    std::vector<std::string> registrants_except(const std::string& nexus) const;
    static bool all_registrants(std::uint8_t type) { return type == 7 || type == 8; }
    static bool registrants_only(std::uint8_t type) { return type >= 5; }
    static bool valid_type(std::uint8_t type) { return type == 1 || type == 3 || (type >= 5 && type <= 8); }

    // Leaves a unit attention for each nexus in `ids`, as part of change number seq + 1.
    void add_uas(const std::vector<std::string>& ids, std::uint8_t asc, std::uint8_t ascq);
    // Ends a change: counts it and forgets unit attentions older than kUaChanges changes.
    void commit();

    std::vector<std::uint8_t> serialize() const;
    // nullopt with `error` set when the bytes are not a state this version wrote.
    static std::optional<PrState> parse(std::span<const std::uint8_t> bytes, std::string& error);
};

std::string pr_nexus_id(const std::string& initiator_port, std::uint16_t relative_port);

}  // namespace vstor::scsi
