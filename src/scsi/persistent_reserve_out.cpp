// PERSISTENT RESERVE OUT (SPC-5 6.16, 5.14.11): parse, change the state under the reservation
// lock one service action at a time, then save the APTPL state on a worker and complete.
#include <algorithm>

#include "scsi/logical_unit.hpp"
#include "scsi/nexus_state.hpp"
#include "scsi/persistent_reservations.hpp"
#include "scsi/target.hpp"
#include "util/endian.hpp"
#include "util/thread_pool.hpp"

namespace vstor::scsi {

namespace {
constexpr std::uint32_t kParamListLength = 24;  // without SPEC_I_PT, the list is always 24 bytes

bool valid_type(std::uint8_t type) { return type == 1 || type == 3 || (type >= 5 && type <= 8); }

Outcome conflict() { return Outcome::with_status(scsi_status::reservation_conflict); }
Outcome good() { return Outcome::good(kParamListLength); }

// Unit attention to every nexus of the LU whose I_T nexus id is in `ids`.
void ua_to(LogicalUnit& lu, const std::vector<std::string>& ids, const Sense& s) {
    for (const auto& n : lu.target().nexuses()) {
        const std::string id = n->initiator_port() + "," + std::to_string(n->relative_port());
        if (std::find(ids.begin(), ids.end(), id) != ids.end()) n->add_ua(lu.lun(), s);
    }
}
}  // namespace

Outcome Reservations::pr_out(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    PrOut rq;
    if (auto bad = parse_pr_out(*t, !r.aptpl_path_.empty(), rq)) return Outcome::check(*bad);
    Outcome outcome;
    std::optional<Snapshot> snapshot;
    {
        std::lock_guard lk(r.mu_);
        outcome = r.pr_out_locked(rq, *t->lu);
        if (outcome.is_good()) snapshot = r.snapshot_locked();
    }
    if (!snapshot) return outcome;  // completed by the engine, after mu_ is released
    // Writing and fsyncing the file would stall the network loop, and under mu_ every command's
    // reservation check on this LU: it runs on a worker, and the command completes once it is done.
    t->pool->post([t, outcome, snap = std::move(*snapshot)] {
        t->lu->reservations().persist(snap);
        t->complete(outcome);
    });
    return Outcome::pending();
}

std::optional<Sense> Reservations::parse_pr_out(const Task& t, bool can_persist, PrOut& out) {
    const std::uint8_t* cdb = t.cdb();
    out.sa = cdb[1] & 0x1f;
    out.scope = cdb[2] >> 4;
    out.type = cdb[2] & 0x0f;
    // REGISTER AND MOVE (7) is not offered.
    if (out.sa >= 7) return sense::invalid_field_in_cdb(1, 4);
    if (util::load_be32(cdb + 5) != kParamListLength || t.cmd.data.size() < kParamListLength)
        return sense::param_list_length_error();
    const auto* p = reinterpret_cast<const std::uint8_t*>(t.cmd.data.data());
    out.key = util::load_be64(p);
    out.sa_key = util::load_be64(p + 8);
    if (p[20] & 0x08) return sense::invalid_field_in_param(20, 3);  // SPEC_I_PT not offered
    // ALL_TG_PT (p[20] bit 2) needs nothing: one target port per target, so registering through
    // every port and through this one coincide.
    out.aptpl = p[20] & 0x01;
    if (out.aptpl && !can_persist) return sense::invalid_field_in_param(20, 0);
    out.me = nexus_id(t);
    out.initiator_port = t.nexus->initiator_port();
    out.relative_port = t.nexus->relative_port();
    return std::nullopt;
}

Outcome Reservations::pr_out_locked(const PrOut& rq, LogicalUnit& lu) {
    if (rq.sa == 0 || rq.sa == 6) return register_locked(rq, lu);
    const Registration* mine = find(rq.me);
    if (!mine || mine->key != rq.key) return conflict();
    switch (rq.sa) {
        case 1: return reserve_locked(rq);
        case 2: return release_locked(rq, lu);
        case 3: return clear_locked(rq, lu);
        case 4:
        case 5: return preempt_locked(rq, lu);
        default: return Outcome::check(sense::invalid_field_in_cdb(1, 4));
    }
}

// REGISTER (0) and REGISTER AND IGNORE EXISTING KEY (6).
Outcome Reservations::register_locked(const PrOut& rq, LogicalUnit& lu) {
    Registration* mine = find(rq.me);
    if (!mine) {
        if (rq.sa == 0 && rq.key != 0) return conflict();
        if (rq.sa_key != 0) {
            regs_.push_back(Registration{rq.me, rq.initiator_port, rq.relative_port, rq.sa_key});
            ++generation_;
        }
        aptpl_ = rq.aptpl;
        return good();
    }
    if (rq.sa == 0 && rq.key != mine->key) return conflict();
    if (rq.sa_key == 0)
        unregister_locked(rq.me, lu);
    else
        mine->key = rq.sa_key;
    ++generation_;
    aptpl_ = rq.aptpl;
    return good();
}

void Reservations::unregister_locked(const std::string& me, LogicalUnit& lu) {
    const bool was_holder = holds(me);
    std::erase_if(regs_, [&](const Registration& r) { return r.nexus == me; });
    if (!was_holder || !holder_) return;
    if (all_registrants(holder_->type) && !regs_.empty()) return;  // the others still hold it
    const auto old_type = holder_->type;
    holder_.reset();
    // SPC-5 5.14.11.2.2: registrants-only types tell the others it was released.
    if (registrants_only(old_type)) ua_to(lu, registrants_except(me), sense::ua_reservations_released());
}

Outcome Reservations::reserve_locked(const PrOut& rq) {
    if (rq.scope != 0) return Outcome::check(sense::invalid_field_in_cdb(2, 7));
    if (!valid_type(rq.type)) return Outcome::check(sense::invalid_field_in_cdb(2, 3));
    if (holder_) return holds(rq.me) && holder_->type == rq.type ? good() : conflict();
    holder_ = Holder{all_registrants(rq.type) ? std::string() : rq.me, rq.type};
    return good();
}

Outcome Reservations::release_locked(const PrOut& rq, LogicalUnit& lu) {
    if (!holder_ || !holds(rq.me)) return good();
    if (rq.scope != 0 || holder_->type != rq.type)
        return Outcome::check(sense::invalid_release_of_persistent_reservation());
    const auto old_type = holder_->type;
    holder_.reset();
    if (old_type != write_exclusive && old_type != exclusive_access)
        ua_to(lu, registrants_except(rq.me), sense::ua_reservations_released());
    return good();
}

Outcome Reservations::clear_locked(const PrOut& rq, LogicalUnit& lu) {
    const auto others = registrants_except(rq.me);
    regs_.clear();
    holder_.reset();
    ++generation_;
    ua_to(lu, others, sense::ua_reservations_preempted());
    return good();
}

// PREEMPT (4) and PREEMPT AND ABORT (5; the tasks are not aborted).
Outcome Reservations::preempt_locked(const PrOut& rq, LogicalUnit& lu) {
    std::vector<std::string> removed;
    auto remove_key = [&](std::uint64_t k, bool all_but_me) {
        std::erase_if(regs_, [&](const Registration& r) {
            const bool hit = (all_but_me || r.key == k) && r.nexus != rq.me;
            if (hit) removed.push_back(r.nexus);
            return hit;
        });
    };
    const auto new_holder = Holder{all_registrants(rq.type) ? std::string() : rq.me, rq.type};
    if (holder_ && all_registrants(holder_->type) && rq.sa_key == 0) {
        // Preempting an all-registrants reservation with key 0 removes every other registrant
        // and makes this nexus the holder (SPC-5 5.14.11.4.4).
        remove_key(0, true);
        holder_ = new_holder;
    } else {
        if (rq.sa_key == 0) return Outcome::check(sense::invalid_field_in_param(8, 7));
        const Registration* target = holder_ && !all_registrants(holder_->type) ? find(holder_->nexus) : nullptr;
        const bool preempts_holder = target && target->key == rq.sa_key;
        if (std::none_of(regs_.begin(), regs_.end(), [&](const Registration& r) { return r.key == rq.sa_key; }))
            return conflict();
        if (preempts_holder) {
            if (!valid_type(rq.type)) return Outcome::check(sense::invalid_field_in_cdb(2, 3));
            if (rq.scope != 0) return Outcome::check(sense::invalid_field_in_cdb(2, 7));
        }
        remove_key(rq.sa_key, false);
        if (preempts_holder) holder_ = new_holder;
    }
    ++generation_;
    ua_to(lu, removed, sense::ua_registrations_preempted());
    return good();
}

}  // namespace vstor::scsi
