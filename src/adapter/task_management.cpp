// Task management (SAM-5 7): each function marks the tasks it affects aborted and completes once
// the running ones have terminated. A backend cannot be asked to drop a command, so that can take
// as long as the backend does, or forever: no thread waits for it. The function's completion
// (the LU's reset, the unit attentions, `done`) runs when the last affected task leaves its task
// set, on the engine's worker pool, or at once when none is running.
#include <atomic>
#include <future>

#include "adapter/adapter_impl.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/persistent_reservations.hpp"
#include "scsi/task_set.hpp"

namespace vstor::adapter {

namespace {

// A function over several LUNs completes when the last of them has.
class Join {
public:
    Join(std::size_t parts, TmfCallback done) : left_(parts + 1), done_(std::move(done)) {}
    void one() {
        if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_(TmfResponse::complete);
    }

private:
    std::atomic<std::size_t> left_;  // the parts, and the caller's own one() once it started them all
    TmfCallback done_;
};

}  // namespace

// The LU is held weakly: a command that never completes keeps the continuation in the LU's task
// set, and must not keep a removed LU alive through it.
void AdapterImpl::release_nexus(const std::shared_ptr<scsi::LogicalUnit>& lu, const std::shared_ptr<Nexus>& nexus,
                                std::function<void(scsi::LogicalUnit*)> then) {
    lu->task_set().abort_then(scsi::TaskSet::Scope{nexus.get(), std::nullopt}, nexus.get(), false,
                              [weak = std::weak_ptr(lu), key = static_cast<scsi::NexusState&>(*nexus).instance_key(),
                               then = std::move(then)](std::size_t) {
                                  auto unit = weak.lock();
                                  if (unit) {
                                      unit->reservations().nexus_lost(key);
                                      unit->clear_prevent(&key);
                                  }
                                  if (then) then(unit.get());
                              });
}

TmfResponse AdapterImpl::task_management(const TmfRequest& req) {
    std::promise<TmfResponse> answer;
    auto got = answer.get_future();
    task_management_async(req, [&answer](TmfResponse r) { answer.set_value(r); });
    return got.get();
}

void AdapterImpl::task_management_async(const TmfRequest& req, TmfCallback done) {
    auto* nexus = static_cast<scsi::NexusState*>(req.nexus.get());
    if (!nexus) return done(TmfResponse::rejected);
    auto t = target(nexus->target_id());
    if (!t) return done(TmfResponse::rejected);
    const auto lun = decode_sam_lun(req.lun);
    auto lu = lun && nexus->sees(*lun) ? t->find_lun(*lun) : nullptr;
    using Scope = scsi::TaskSet::Scope;

    // LUN-scoped functions need an existing LUN.
    switch (req.function) {
        case TmfFunction::abort_task:
        case TmfFunction::abort_task_set:
        case TmfFunction::clear_task_set:
        case TmfFunction::clear_aca:
        case TmfFunction::lun_reset:
        case TmfFunction::query_task:
            if (!lu) return done(TmfResponse::incorrect_lun);
            break;
        default:
            break;
    }
    // The continuations hold their LU and target weakly: one whose task never completes stays in
    // that LU's task set, and must not keep a removed LU alive through it.
    // Every LUN's state is reset the same way by LUN RESET and the target resets (SAM-5 6.3).
    auto reset_lu = [&](const std::shared_ptr<scsi::LogicalUnit>& unit, const scsi::Sense& ua,
                        const std::shared_ptr<Join>& join) {
        unit->task_set().abort_then(Scope{}, nexus, unit->mode().tas,
                                    [weak = std::weak_ptr(unit), wt = std::weak_ptr(t), ua, join](std::size_t) {
                                        if (auto u = weak.lock()) {
                                            u->reservations().reset();
                                            u->clear_prevent(nullptr);
                                            if (auto target = wt.lock()) target->broadcast_ua(u->lun(), ua, nullptr);
                                        }
                                        join->one();
                                    });
    };
    switch (req.function) {
        case TmfFunction::abort_task:
            // A task that completed before the abort took hold no longer exists.
            return lu->task_set().abort_then(Scope{nexus, req.referenced_tag}, nexus, false,
                                             [done = std::move(done)](std::size_t matched) {
                                                 done(matched == 0 ? TmfResponse::task_not_exist
                                                                   : TmfResponse::complete);
                                             });
        case TmfFunction::query_task:
            return done(lu->task_set().contains(Scope{nexus, req.referenced_tag}) ? TmfResponse::succeeded
                                                                                   : TmfResponse::complete);
        case TmfFunction::abort_task_set:
            return lu->task_set().abort_then(Scope{nexus, std::nullopt}, nexus, false,
                                             [done = std::move(done)](std::size_t) { done(TmfResponse::complete); });
        case TmfFunction::clear_task_set: {
            const bool tas = lu->mode().tas;
            // SAM-5 7.4: with TAS=0 the other initiators learn through a unit attention.
            return lu->task_set().abort_then(Scope{}, nexus, tas,
                                             [wt = std::weak_ptr(t), at = *lun, tas, by = req.nexus,
                                              done = std::move(done)](std::size_t) {
                                                 auto target = wt.lock();
                                                 if (!tas && target)
                                                     target->broadcast_ua(at, scsi::sense::ua_commands_cleared_by_another_initiator(),
                                                                          static_cast<scsi::NexusState*>(by.get()));
                                                 done(TmfResponse::complete);
                                             });
        }
        case TmfFunction::lun_reset: {
            auto join = std::make_shared<Join>(1, std::move(done));
            reset_lu(lu, scsi::sense::ua_lun_reset(), join);
            return join->one();
        }
        case TmfFunction::target_warm_reset:
        case TmfFunction::target_cold_reset: {
            const auto units = t->luns();
            auto join = std::make_shared<Join>(units.size(), std::move(done));
            for (const auto& unit : units) reset_lu(unit, scsi::sense::ua_power_on_reset(), join);
            return join->one();
        }
        case TmfFunction::i_t_nexus_reset: {
            const auto units = t->luns();
            auto join = std::make_shared<Join>(units.size(), std::move(done));
            for (const auto& unit : units)
                release_nexus(unit, req.nexus, [nexus = req.nexus, join](scsi::LogicalUnit* u) {
                    if (u) static_cast<scsi::NexusState&>(*nexus).add_ua(u->lun(), scsi::sense::ua_i_t_nexus_loss());
                    join->one();
                });
            return join->one();
        }
        case TmfFunction::clear_aca:
            return done(TmfResponse::not_supported);  // NACA=1 is refused in every CDB, so no ACA exists
    }
    done(TmfResponse::not_supported);
}

}  // namespace vstor::adapter
