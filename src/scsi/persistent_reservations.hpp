// Reservations of one logical unit: SPC-2 RESERVE/RELEASE and SPC-5 persistent reservations
// (registrations per I_T nexus, six reservation types, APTPL state kept in a file, or the
// state kept in a store that every gateway of a shared LUN uses).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scsi/pr_rules.hpp"
#include "scsi/pr_state.hpp"
#include "scsi/task.hpp"
#include "vstor/reservation_store.hpp"

namespace vstor::scsi {

class Reservations {
public:
    explicit Reservations(std::string aptpl_path);

    // SPC-5 5.14.1 (table 68 and friends): does this command conflict with a reservation?
    bool conflicts(const Task& t) const;

    // Command handlers (registered in reservations_commands.cpp).
    static Outcome reserve(const TaskPtr& t);   // RESERVE(6)/(10)
    static Outcome release(const TaskPtr& t);   // RELEASE(6)/(10)
    static Outcome pr_in(const TaskPtr& t);
    static Outcome pr_out(const TaskPtr& t);

    // A nexus went away (I_T NEXUS RESET, logout): SPC-2 reservations through it end.
    void nexus_lost(const std::string& instance_key);  // NexusState::instance_key()
    // For status displays: is any reservation held, and by which initiator port ("" = all registrants).
    std::optional<std::string> holder() const;
    // LOGICAL UNIT RESET / target reset: SPC-2 reservations end; persistent ones stay (SPC-5 5.14.11).
    void reset();

    // A LUN other gateways serve too keeps its persistent reservations in `store`
    // (vstor/reservation_store.hpp) instead of the APTPL file: loads the state (blocking, at LUN
    // creation) and follows the store's changes until stop_sharing().
    void share(LogicalUnit& lu, std::shared_ptr<ReservationStore> store);
    void stop_sharing();

private:
    // What the APTPL file is to hold next (nullopt: no file), numbered in the order the states
    // were made so that a save that runs late never overwrites a newer one.
    struct Snapshot {
        std::uint64_t seq = 0;
        std::optional<std::string> content;
    };

    static std::string nexus_id(const Task& t);
    bool can_persist() const { return !aptpl_path_.empty() || store_ != nullptr; }

    // PERSISTENT RESERVE IN parameter data for service action `sa` (0..3).
    void pr_in_locked(std::uint8_t sa, std::vector<std::uint8_t>& d) const;

    // PERSISTENT RESERVE OUT (persistent_reserve_out.cpp): parse, apply the rules (pr_rules.hpp)
    // to a copy of the state, adopt it; nothing completes under mu_.
    static std::optional<Sense> parse_pr_out(const Task& t, bool can_persist, PrOut& out);
    // The state becomes `next` if it is newer; the unit attentions it made since the current
    // state go to this gateway's nexuses that they name.
    void adopt_locked(PrState next, LogicalUnit& lu);

    // Shared LUNs (reservations_shared.cpp): the state lives in store_; PR OUT runs on a worker
    // as load, apply, compare-and-set (again on conflict), the watch keeps st_ current.
    void pr_out_shared(const TaskPtr& t, const PrOut& rq);
    void refresh();  // the store's watch callback: load and adopt

    // APTPL state file (reservations_file.cpp). A snapshot is taken under mu_; it is written
    // (and fsynced) by persist() on a worker, holding only file_mu_.
    std::optional<Snapshot> snapshot_locked();
    void persist(const Snapshot& s);
    void load();

    mutable std::mutex mu_;  // guards everything below up to file_mu_
    const std::string aptpl_path_;
    std::optional<std::string> legacy_holder_;  // SPC-2 reservation holder (initiator port)
    PrState st_;
    std::uint64_t snapshots_ = 0;  // snapshots taken
    std::shared_ptr<ReservationStore> store_;  // set by share(), before any command arrives
    LogicalUnit* lu_ = nullptr;                // the LU the store's callbacks deliver to

    std::mutex file_mu_;  // guards the APTPL file and written_; taken without mu_
    std::uint64_t written_ = 0;  // seq of the newest snapshot in the file
};

}  // namespace vstor::scsi
