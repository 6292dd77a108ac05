// Persistent reservations of a LUN that several gateways serve (vstor/reservation_store.hpp):
// the state lives in the backend's store. PR OUT reads it, applies the rules and writes it back
// with compare-and-set, again from the top when another gateway changed it in between; the
// store's watch brings other gateways' changes into st_, which PR IN and the per-command
// conflict check read as for any LUN, and with them the unit attentions for this gateway's nexuses.
#include <algorithm>

#include <spdlog/spdlog.h>

#include "scsi/logical_unit.hpp"
#include "scsi/persistent_reservations.hpp"
#include "scsi/target.hpp"

namespace vstor::scsi {

namespace {
// Compare-and-set rounds before a PR OUT gives up (each lost round means another gateway's
// change went in, so this is only reached when the gateways keep changing it all the time).
constexpr int kMaxRounds = 64;

// The stored bytes as a state; an empty store is the empty state.
std::optional<PrState> decode(const ReservationStore::Snapshot& snap, std::string& error) {
    if (snap.state.empty()) return PrState{};
    return PrState::parse(snap.state, error);
}
}  // namespace

void Reservations::share(LogicalUnit& lu, std::shared_ptr<ReservationStore> store) {
    lu_ = &lu;
    store_ = std::move(store);
    refresh();
    store_->watch([this] { refresh(); });
}

void Reservations::stop_sharing() {
    if (store_) store_->watch({});
}

void Reservations::refresh() {
    ReservationStore::Snapshot snap;
    std::string error;
    if (store_->load(snap, error) != ReservationStore::Result::ok) {
        spdlog::warn("{} LUN {}: persistent reservations not read from the store: {}", lu_->target().name(),
                     lu_->lun(), error);
        return;
    }
    auto next = decode(snap, error);
    if (!next) {
        spdlog::error("{} LUN {}: the stored persistent reservation state is unusable: {}", lu_->target().name(),
                      lu_->lun(), error);
        return;
    }
    std::lock_guard lk(mu_);
    if (snap.state.empty() && st_.seq > 0) next->seq = st_.seq + 1;  // removed from the store: start over
    adopt_locked(std::move(*next), *lu_);
}

void Reservations::pr_out_shared(const TaskPtr& t, const PrOut& rq) {
    const auto fail = [&](const char* what, const std::string& why) {
        spdlog::error("{} LUN {}: PERSISTENT RESERVE OUT failed, {}: {}", lu_->target().name(), lu_->lun(), what, why);
        t->complete(Outcome::check(sense::internal_target_failure()));
    };
    // The stored format bounds names (an iSCSI initiator port is at most 223 + 20 bytes).
    if (rq.me.size() > PrState::kMaxName) return fail("cannot store the nexus", "initiator port name too long");
    for (int round = 0; round < kMaxRounds; ++round) {
        ReservationStore::Snapshot snap;
        std::string error;
        if (store_->load(snap, error) != ReservationStore::Result::ok) return fail("cannot read the state", error);
        auto state = decode(snap, error);
        if (!state) return fail("the stored state is unusable", error);
        {
            std::lock_guard lk(mu_);
            state->seq = std::max(state->seq, st_.seq);  // never behind what this gateway has shown
        }
        const Outcome outcome = apply_pr_out(*state, rq);
        if (!outcome.is_good()) return t->complete(outcome);  // nothing to write
        switch (store_->compare_and_set(snap.version, state->serialize(), error)) {
            case ReservationStore::Result::ok: {
                std::lock_guard lk(mu_);
                adopt_locked(std::move(*state), *lu_);
            }
                return t->complete(outcome);
            case ReservationStore::Result::conflict: continue;  // another gateway changed it: again
            case ReservationStore::Result::error: return fail("cannot write the state", error);
        }
    }
    fail("the state kept changing", std::to_string(kMaxRounds) + " rounds lost");
}

}  // namespace vstor::scsi
