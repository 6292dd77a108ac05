// Reservations of one logical unit: SPC-2 RESERVE/RELEASE and SPC-5 persistent reservations.
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
    explicit Reservations(std::string aptpl_path) : aptpl_path_(std::move(aptpl_path)) {}

    // SPC-5 5.14.1 table 68: does this command from this nexus conflict with a reservation?
    bool conflicts(const Task& t) const;

    // Handlers (parameter parsing and state change); registered in the SPC table.
    static void reserve6_10(const TaskPtr& t);
    static void release6_10(const TaskPtr& t);
    static void pr_in(const TaskPtr& t);
    static void pr_out(const TaskPtr& t);

    // A nexus went away or a reset: drop SPC-2 reservations held through it.
    void nexus_lost(const std::string& initiator_port);
    void reset();

private:
    mutable std::mutex mu_;  // guards everything below
    std::string aptpl_path_;
    // SPC-2 reservation holder (initiator port), if any.
    std::optional<std::string> legacy_holder_;
};

}  // namespace vstor::scsi
