// PERSISTENT RESERVE OUT's service actions on a PrState, one function each.
#include "scsi/pr_rules.hpp"

#include <algorithm>

#include "scsi/sense.hpp"

namespace vstor::scsi {

namespace {
constexpr std::uint8_t kRegistrationsPreempted = 0x05, kReservationsReleased = 0x04, kReservationsPreempted = 0x03;
constexpr std::uint8_t kWriteExclusive = 1, kExclusiveAccess = 3;

Outcome conflict() { return Outcome::with_status(scsi_status::reservation_conflict); }
Outcome good() { return Outcome::good(kPrOutParamListLength); }

void unregister(PrState& s, const std::string& me) {
    const bool was_holder = s.holds(me);
    std::erase_if(s.regs, [&](const PrRegistration& r) { return r.nexus == me; });
    if (!was_holder || !s.holder) return;
    if (PrState::all_registrants(s.holder->type) && !s.regs.empty()) return;  // the others still hold it
    const auto old_type = s.holder->type;
    s.holder.reset();
    // SPC-5 5.14.11.2.2: registrants-only types tell the others it was released.
    if (PrState::registrants_only(old_type)) s.add_uas(s.registrants_except(me), 0x2a, kReservationsReleased);
}

// REGISTER (0) and REGISTER AND IGNORE EXISTING KEY (6).
Outcome register_key(PrState& s, const PrOut& rq) {
    PrRegistration* mine = s.find(rq.me);
    if (!mine) {
        if (rq.sa == 0 && rq.key != 0) return conflict();
        if (rq.sa_key != 0) {
            s.regs.push_back(PrRegistration{rq.me, rq.initiator_port, rq.relative_port, rq.sa_key});
            ++s.generation;
        }
        s.aptpl = rq.aptpl;
        return good();
    }
    if (rq.sa == 0 && rq.key != mine->key) return conflict();
    if (rq.sa_key == 0)
        unregister(s, rq.me);
    else
        mine->key = rq.sa_key;
    ++s.generation;
    s.aptpl = rq.aptpl;
    return good();
}

Outcome reserve(PrState& s, const PrOut& rq) {
    if (rq.scope != 0) return Outcome::check(sense::invalid_field_in_cdb(2, 7));
    if (!PrState::valid_type(rq.type)) return Outcome::check(sense::invalid_field_in_cdb(2, 3));
    if (s.holder) return s.holds(rq.me) && s.holder->type == rq.type ? good() : conflict();
    s.holder = PrHolder{PrState::all_registrants(rq.type) ? std::string() : rq.me, rq.type};
    return good();
}

Outcome release(PrState& s, const PrOut& rq) {
    if (!s.holder || !s.holds(rq.me)) return good();
    if (rq.scope != 0 || s.holder->type != rq.type)
        return Outcome::check(sense::invalid_release_of_persistent_reservation());
    const auto old_type = s.holder->type;
    s.holder.reset();
    if (old_type != kWriteExclusive && old_type != kExclusiveAccess)
        s.add_uas(s.registrants_except(rq.me), 0x2a, kReservationsReleased);
    return good();
}

Outcome clear(PrState& s, const PrOut& rq) {
    const auto others = s.registrants_except(rq.me);
    s.regs.clear();
    s.holder.reset();
    ++s.generation;
    s.add_uas(others, 0x2a, kReservationsPreempted);
    return good();
}

// PREEMPT (4) and PREEMPT AND ABORT (5; the tasks are not aborted).
Outcome preempt(PrState& s, const PrOut& rq) {
    std::vector<std::string> removed;
    auto remove_key = [&](std::uint64_t k, bool all_but_me) {
        std::erase_if(s.regs, [&](const PrRegistration& r) {
            const bool hit = (all_but_me || r.key == k) && r.nexus != rq.me;
            if (hit) removed.push_back(r.nexus);
            return hit;
        });
    };
    const auto new_holder = PrHolder{PrState::all_registrants(rq.type) ? std::string() : rq.me, rq.type};
    if (s.holder && PrState::all_registrants(s.holder->type) && rq.sa_key == 0) {
        // Preempting an all-registrants reservation with key 0 removes every other registrant
        // and makes this nexus the holder (SPC-5 5.14.11.4.4).
        remove_key(0, true);
        s.holder = new_holder;
    } else {
        if (rq.sa_key == 0) return Outcome::check(sense::invalid_field_in_param(8, 7));
        const PrRegistration* target =
            s.holder && !PrState::all_registrants(s.holder->type) ? s.find(s.holder->nexus) : nullptr;
        const bool preempts_holder = target && target->key == rq.sa_key;
        if (std::none_of(s.regs.begin(), s.regs.end(), [&](const PrRegistration& r) { return r.key == rq.sa_key; }))
            return conflict();
        if (preempts_holder) {
            if (!PrState::valid_type(rq.type)) return Outcome::check(sense::invalid_field_in_cdb(2, 3));
            if (rq.scope != 0) return Outcome::check(sense::invalid_field_in_cdb(2, 7));
        }
        remove_key(rq.sa_key, false);
        if (preempts_holder) s.holder = new_holder;
    }
    ++s.generation;
    s.add_uas(removed, 0x2a, kRegistrationsPreempted);
    return good();
}

Outcome dispatch(PrState& s, const PrOut& rq) {
    if (rq.sa == 0 || rq.sa == 6) return register_key(s, rq);
    const PrRegistration* mine = s.find(rq.me);
    if (!mine || mine->key != rq.key) return conflict();
    switch (rq.sa) {
        case 1: return reserve(s, rq);
        case 2: return release(s, rq);
        case 3: return clear(s, rq);
        case 4:
        case 5: return preempt(s, rq);
        default: return Outcome::check(sense::invalid_field_in_cdb(1, 4));
    }
}
}  // namespace

Outcome apply_pr_out(PrState& s, const PrOut& rq) {
    Outcome o = dispatch(s, rq);
    if (o.is_good()) s.commit();
    return o;
}

}  // namespace vstor::scsi
