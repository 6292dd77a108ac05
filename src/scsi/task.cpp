#include "scsi/task.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

#include <spdlog/spdlog.h>

#include "scsi/logical_unit.hpp"
#include "scsi/sync_io.hpp"
#include "scsi/target.hpp"
#include "scsi/task_set.hpp"

namespace vstor::scsi {

namespace {
std::atomic<std::uint64_t> g_duplicates{0};

// A task completed twice: the first completion stands (its callback has been moved out and the
// front end may have freed the command's buffers), so this one only leaves a trace.
void report_duplicate(const Task& t) {
    g_duplicates.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("engine bug: command {:#04x} tag {:#x} completed twice; the second completion is dropped",
                  t.cmd.cdb[0], t.cmd.tag);
}

// A backend said why its call failed (IoCallback's message): log it with the sense it became, at
// most a few lines per LUN per interval (a failing disk fails at line rate).
// The message comes with the outcome (asynchronous calls) or from the worker's last wait_io.
void log_backend_message(const Task& t, const Outcome& o) {
    if (o.why.empty() && util::last_io_message().empty()) return;  // the common case
    std::string message = std::exchange(util::last_io_message(), {});
    if (!o.sense) return;
    if (!o.why.empty()) message = o.why;
    if (message.empty() || !t.lu) return;
    const Sense& s = *o.sense;
    std::uint64_t suppressed = 0;
    if (!t.lu->backend_error_log.allow(&suppressed)) return;
    spdlog::warn("{} LUN {}: command {:#04x} failed: {} (sense {:x}/{:02x}/{:02x}){}", t.lu->target().name(),
                 t.lu->lun(), t.cmd.cdb[0], message, s.key, s.asc, s.ascq,
                 suppressed ? fmt::format(" ({} more suppressed)", suppressed) : "");
}

// Data-in the backend lent is read when the front end sends it, after this completion: the task
// stays in its task set until then (TaskSet::hold_lent), so that an ORDERED write queued behind
// it cannot show through. The view handed over leaves the set when its last holder lets go.
bool hold_until_sent(Task& t, Completion& c) {
    TaskPtr held = t.lu->task_set().hold_lent(&t);
    if (!held) return false;  // aborted: leave() now, and the view is dropped below
    const DataView* pieces = c.data_view.get();
    c.data_view = std::shared_ptr<const DataView>(
        pieces, [lent = std::move(c.data_view), held = std::move(held)](const DataView*) {
            held->lu->task_set().leave(held.get());
        });
    return true;
}

void finish(Task& t, Completion& c) {
    if (t.completed.exchange(true, std::memory_order_acq_rel)) return report_duplicate(t);
    // Leave the task set before looking at the abort flag: a TMF that found this task running
    // has set the flag by now, and one that comes later will not find it.
    const bool held = t.lu && t.in_task_set && c.data_view && hold_until_sent(t, c);
    TaskPtr keep = (t.lu && t.in_task_set && !held) ? t.lu->task_set().leave(&t) : nullptr;
    if (t.aborted.load()) {
        if (t.abort_reported) {
            c = Completion{};
            c.status = scsi_status::task_aborted;
            c.residual = t.cmd.expected_length;
        } else {
            c.aborted = true;
            c.data_view.reset();
        }
    }
    auto done = std::move(t.done);
    if (t.lu) {
        t.lu->in_flight.fetch_sub(1, std::memory_order_relaxed);
        const bool ok = c.status == scsi_status::good || c.status == scsi_status::condition_met;
        const std::uint64_t moved = t.cmd.dir == DataDirection::read ? c.data_in_len
                                    : ok ? t.cmd.expected_length - static_cast<std::uint64_t>(std::max<std::int64_t>(c.residual, 0))
                                         : 0;
        t.lu->counters.record(t.cmd.dir, moved, ok, std::chrono::steady_clock::now() - t.started);
    }
    done(c);
}
}  // namespace

std::uint64_t duplicate_completions() { return g_duplicates.load(std::memory_order_relaxed); }

Outcome io_outcome(IoStatus s, bool is_write, Outcome if_ok, std::string_view why) {
    if (s == IoStatus::ok) return if_ok;
    Outcome o = Outcome::check(sense::from_io_status(s, is_write));
    o.why = why;
    return o;
}

Outcome reply_data(Task& t, std::span<const std::uint8_t> bytes) {
    // A task completed already (an engine bug) may have had its buffers freed by the front end.
    if (t.completed.load(std::memory_order_acquire)) {
        report_duplicate(t);
        return Outcome::pending();  // nothing more to do: the first completion stands
    }
    const auto n = std::min<std::size_t>(bytes.size(), t.cmd.data.size());
    if (n) std::memcpy(t.cmd.data.data(), bytes.data(), n);
    return Outcome::data_in(static_cast<std::uint32_t>(bytes.size()));
}

void Task::complete(const Outcome& o) {
    Completion c;
    c.status = o.status;
    if (o.produced) {
        c.data_in_len = std::min(*o.produced, cmd.expected_length);
        c.residual = static_cast<std::int64_t>(cmd.expected_length) - *o.produced;
        c.data_view = o.view;
    } else {
        // GOOD: what the command did not use of the data-out. CHECK CONDITION and other
        // statuses move no data (needed = 0: the whole expected length is residual), except a
        // command that needed more data-out than it got.
        c.residual = static_cast<std::int64_t>(cmd.expected_length) - o.needed;
    }
    log_backend_message(*this, o);
    if (o.sense) {
        c.status = scsi_status::check_condition;
        const bool desc = lu && lu->descriptor_sense();
        c.sense_len = desc ? encode_descriptor(*o.sense, c.sense.data(), c.sense.size())
                           : encode_fixed(*o.sense, c.sense.data(), c.sense.size());
    }
    finish(*this, c);
}

}  // namespace vstor::scsi
