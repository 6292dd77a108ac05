// Reservations of one logical unit: SPC-2 RESERVE/RELEASE and SPC-5 persistent reservations
// (registrations per I_T nexus, six reservation types, APTPL state kept in a file).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "scsi/task.hpp"

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

private:
    enum Type : std::uint8_t {
        write_exclusive = 1,
        exclusive_access = 3,
        write_exclusive_registrants_only = 5,
        exclusive_access_registrants_only = 6,
        write_exclusive_all_registrants = 7,
        exclusive_access_all_registrants = 8,
    };
    struct Registration {
        std::string nexus;  // initiator port name + target port: one I_T nexus
        std::string initiator_port;
        std::uint16_t relative_port;
        std::uint64_t key;
    };
    struct Holder {
        std::string nexus;  // empty for the all-registrants types
        std::uint8_t type;
    };

    // One PERSISTENT RESERVE OUT, its CDB and parameter list checked (SPC-5 6.16).
    struct PrOut {
        std::uint8_t sa = 0, scope = 0, type = 0;
        std::uint64_t key = 0, sa_key = 0;
        bool aptpl = false;
        std::string me;  // the sender's I_T nexus (nexus_id)
        std::string initiator_port;
        std::uint16_t relative_port = 0;
    };
    // What the APTPL file is to hold next (nullopt: no file), numbered in the order the states
    // were made so that a save that runs late never overwrites a newer one.
    struct Snapshot {
        std::uint64_t seq = 0;
        std::optional<std::string> content;
    };

    static std::string nexus_id(const Task& t);
    const Registration* find(const std::string& nexus) const;
    Registration* find(const std::string& nexus);
    bool holds(const std::string& nexus) const;
    std::vector<std::string> registrants_except(const std::string& nexus) const;
    static bool all_registrants(std::uint8_t type) { return type == 7 || type == 8; }
    static bool registrants_only(std::uint8_t type) { return type >= 5; }

    // PERSISTENT RESERVE IN parameter data for service action `sa` (0..3).
    void pr_in_locked(std::uint8_t sa, std::vector<std::uint8_t>& d) const;

    // PERSISTENT RESERVE OUT, step by step (persistent_reserve_out.cpp): the *_locked steps
    // change the state under mu_ and say how the command ends; nothing completes under mu_.
    static std::optional<Sense> parse_pr_out(const Task& t, bool can_persist, PrOut& out);
    Outcome pr_out_locked(const PrOut& rq, LogicalUnit& lu);
    Outcome register_locked(const PrOut& rq, LogicalUnit& lu);
    void unregister_locked(const std::string& me, LogicalUnit& lu);
    Outcome reserve_locked(const PrOut& rq);
    Outcome release_locked(const PrOut& rq, LogicalUnit& lu);
    Outcome clear_locked(const PrOut& rq, LogicalUnit& lu);
    Outcome preempt_locked(const PrOut& rq, LogicalUnit& lu);

    // APTPL state file (reservations_file.cpp). A snapshot is taken under mu_; it is written
    // (and fsynced) by persist() on a worker, holding only file_mu_.
    std::optional<Snapshot> snapshot_locked();
    void persist(const Snapshot& s);
    void load();

    mutable std::mutex mu_;  // guards everything below up to file_mu_
    const std::string aptpl_path_;
    std::optional<std::string> legacy_holder_;  // SPC-2 reservation holder (initiator port)
    std::vector<Registration> regs_;
    std::optional<Holder> holder_;
    std::uint32_t generation_ = 0;
    bool aptpl_ = false;
    std::uint64_t snapshots_ = 0;  // snapshots taken

    std::mutex file_mu_;  // guards the APTPL file and written_; taken without mu_
    std::uint64_t written_ = 0;  // seq of the newest snapshot in the file
};

}  // namespace vstor::scsi
