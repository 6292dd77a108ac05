#include "scsi/dispatch.hpp"

#include "scsi/command_table.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/lun_alua.hpp"
#include "scsi/nexus_state.hpp"
#include "scsi/persistent_reservations.hpp"
#include "scsi/task_set.hpp"
#include "util/thread_pool.hpp"

namespace vstor::scsi {

namespace {

// SPC-5 4.5: a command to a LUN that does not exist.
bool missing_lun(const Task& t) {
    return !t.lu && !(t.info && (t.info->flags & cmd_flag::no_lun_needed));
}

std::optional<Sense> readiness(const Task& t) {
    const auto& lu = *t.lu;
    const auto flags = t.info->flags;
    const int progress = lu.sanitize_progress.load();
    if (progress >= 0 && !(flags & cmd_flag::allowed_while_sanitizing))
        return sense::not_ready_sanitize_in_progress(static_cast<std::uint16_t>(progress));
    if (!(flags & cmd_flag::needs_medium)) return std::nullopt;
    if (!lu.medium_present.load()) return sense::medium_not_present();
    // SPC-5 5.16.2.4: a shared LU's ports that cannot reach the data (RBD: blocklisted).
    if (const auto* alua = lu.alua()) {
        if (alua->state() == AccessState::unavailable) return sense::not_ready_alua_unavailable();
        if (alua->state() == AccessState::transitioning) return sense::not_ready_alua_transition();
    }
    return std::nullopt;
}

// The handler says how the command ends; the engine completes it, unless an asynchronous step
// will (pending).
void execute(const TaskPtr& t) {
    const Outcome o = t->info->handler(t);
    if (!o.is_pending) t->complete(o);
}

void run(const TaskPtr& t) {
    if (t->info->flags & cmd_flag::blocking)
        t->pool->post([t] { execute(t); });
    else
        execute(t);
}

// Parse-then-execute, before any handler runs: the first check that refuses the command says how
// it ends (nullopt: run it).
std::optional<Outcome> admission(Task& t) {
    const std::uint8_t* cdb = t.cdb();
    const std::uint8_t opcode = cdb[0];
    if (missing_lun(t)) return Outcome::check(sense::invalid_lun());
    if (!t.info || !enabled_on(*t.info, t.lu.get())) {
        // Not implemented (on this LUN). Known opcode with an unknown service action: the field in
        // error is the service action.
        if (CommandTable::instance().opcode_has_service_actions(opcode))
            return Outcome::check(sense::invalid_field_in_cdb(opcode == 0x7f ? 8 : 1, opcode == 0x7f ? 7 : 4));
        return Outcome::check(sense::invalid_opcode());
    }
    if (auto bad = check_reserved_bits(*t.info, t.lu.get(), cdb)) return Outcome::check(*bad);
    if (!t.lu) return std::nullopt;
    // SAM-5 5.14: a pending unit attention is reported to the next command, except INQUIRY,
    // REPORT LUNS and REQUEST SENSE (which does report it, as its sense data).
    if (!(t.info->flags & cmd_flag::no_unit_attention) && t.nexus) {
        if (auto ua = t.nexus->take_ua(t.lun_id)) return Outcome::check(*ua);
    }
    if (t.lu->reservations().conflicts(t)) return Outcome::with_status(scsi_status::reservation_conflict);
    if (auto nr = readiness(t)) return Outcome::check(*nr);
    if ((t.info->flags & cmd_flag::writes_medium) && t.lu->read_only()) return Outcome::check(sense::write_protected());
    return std::nullopt;
}

}  // namespace

void dispatch(const TaskPtr& t, util::ThreadPool& pool) {
    t->pool = &pool;
    t->info = CommandTable::instance().lookup(t->cdb());
    if (t->lu) t->lu->in_flight.fetch_add(1, std::memory_order_relaxed);
    if (auto refused = admission(*t)) return t->complete(*refused);
    if (!t->lu) return run(t);
    t->in_task_set = true;
    t->lu->task_set().enter(t, run);
}

}  // namespace vstor::scsi
