// PERSISTENT RESERVE OUT (SPC-5 6.16, 5.14.11): parse, apply the rules (pr_rules.cpp) to a copy
// of the state under the reservation lock and adopt it, then save the APTPL state on a worker
// and complete. A shared LUN's state goes through its store instead (reservations_shared.cpp).
#include <algorithm>

#include "scsi/logical_unit.hpp"
#include "scsi/nexus_state.hpp"
#include "scsi/persistent_reservations.hpp"
#include "scsi/pr_rules.hpp"
#include "scsi/target.hpp"
#include "util/endian.hpp"
#include "util/thread_pool.hpp"

namespace vstor::scsi {

Outcome Reservations::pr_out(const TaskPtr& t) {
    auto& r = t->lu->reservations();
    PrOut rq;
    if (auto bad = parse_pr_out(*t, r.can_persist(), rq)) return Outcome::check(*bad);
    if (r.store_) {
        // Reading and writing the store waits on the network: never on a front end's loop.
        t->pool->post([t, rq] { t->lu->reservations().pr_out_shared(t, rq); });
        return Outcome::pending();
    }
    Outcome outcome;
    std::optional<Snapshot> snapshot;
    {
        std::lock_guard lk(r.mu_);
        PrState next = r.st_;
        outcome = apply_pr_out(next, rq);
        if (outcome.is_good()) {
            r.adopt_locked(std::move(next), *t->lu);
            snapshot = r.snapshot_locked();
        }
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
    if (util::load_be32(cdb + 5) != kPrOutParamListLength || t.cmd.data.size() < kPrOutParamListLength)
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

void Reservations::adopt_locked(PrState next, LogicalUnit& lu) {
    if (next.seq <= st_.seq) return;  // a late copy of a state this gateway has already seen
    const std::uint64_t seen = st_.seq;
    std::vector<const PrUnitAttention*> fresh;
    for (const auto& u : next.uas)
        if (u.seq > seen) fresh.push_back(&u);
    if (!fresh.empty()) {
        for (const auto& n : lu.target().nexuses()) {
            const std::string id = pr_nexus_id(n->initiator_port(), n->relative_port());
            for (const auto* u : fresh) {
                if (u->nexus != id) continue;
                Sense s;
                s.key = 0x06;  // UNIT ATTENTION
                s.asc = u->asc;
                s.ascq = u->ascq;
                n->add_ua(lu.lun(), s);
            }
        }
    }
    st_ = std::move(next);
}

}  // namespace vstor::scsi
