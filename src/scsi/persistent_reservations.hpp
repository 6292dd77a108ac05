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
    static void reserve(const TaskPtr& t);   // RESERVE(6)/(10)
    static void release(const TaskPtr& t);   // RELEASE(6)/(10)
    static void pr_in(const TaskPtr& t);
    static void pr_out(const TaskPtr& t);

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

    static std::string nexus_id(const Task& t);
    const Registration* find(const std::string& nexus) const;
    bool holds(const std::string& nexus) const;
    bool holders_nexus(const std::string& nexus) const { return holds(nexus); }
    static bool all_registrants(std::uint8_t type) { return type == 7 || type == 8; }
    static bool registrants_only(std::uint8_t type) { return type >= 5; }
    void save_locked() const;
    void load();

    void pr_out_locked(const TaskPtr& t, std::uint8_t sa, std::uint8_t scope, std::uint8_t type,
                       std::uint64_t key, std::uint64_t sa_key, bool aptpl, bool all_tg_pt);

    mutable std::mutex mu_;  // guards everything below
    const std::string aptpl_path_;
    std::optional<std::string> legacy_holder_;  // SPC-2 reservation holder (initiator port)
    std::vector<Registration> regs_;
    std::optional<Holder> holder_;
    std::uint32_t generation_ = 0;
    bool aptpl_ = false;
};

}  // namespace vstor::scsi
