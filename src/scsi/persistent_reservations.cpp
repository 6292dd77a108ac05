// SPC-2 RESERVE/RELEASE and (to come) SPC-5 persistent reservations.
#include "scsi/persistent_reservations.hpp"

#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/nexus_state.hpp"

namespace vstor::scsi {

bool Reservations::conflicts(const Task& t) const {
    std::lock_guard lk(mu_);
    if (!legacy_holder_ || !t.nexus) return false;
    if (*legacy_holder_ == t.nexus->initiator_port()) return false;
    // SPC-2 reservation: only commands marked allowed pass for other initiators.
    return !(t.info->flags & cmd_flag::reservation_any);
}

void Reservations::reserve6_10(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    std::lock_guard lk(r.mu_);
    const auto& me = t->nexus->initiator_port();
    if (r.legacy_holder_ && *r.legacy_holder_ != me) return t->complete_status(scsi_status::reservation_conflict);
    r.legacy_holder_ = me;
    t->complete_good();
}

void Reservations::release6_10(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    std::lock_guard lk(r.mu_);
    if (r.legacy_holder_ && *r.legacy_holder_ == t->nexus->initiator_port()) r.legacy_holder_.reset();
    t->complete_good();  // SPC-2: releasing a reservation one does not hold is not an error
}

void Reservations::pr_in(const TaskPtr& t) { t->complete_sense(sense::invalid_opcode()); }
void Reservations::pr_out(const TaskPtr& t) { t->complete_sense(sense::invalid_opcode()); }

void Reservations::nexus_lost(const std::string& initiator_port) {
    std::lock_guard lk(mu_);
    if (legacy_holder_ && *legacy_holder_ == initiator_port) legacy_holder_.reset();
}

void Reservations::reset() {
    std::lock_guard lk(mu_);
    legacy_holder_.reset();
}

}  // namespace vstor::scsi
