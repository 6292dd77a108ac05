#include "scsi/task.hpp"

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>

#include "scsi/logical_unit.hpp"
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

void finish(Task& t, Completion& c) {
    if (t.completed.exchange(true, std::memory_order_acq_rel)) return report_duplicate(t);
    // Leave the task set before looking at the abort flag: a TMF that found this task running
    // has set the flag by now, and one that comes later will not find it.
    TaskPtr keep = (t.lu && t.in_task_set) ? t.lu->task_set().leave(&t) : nullptr;
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

void Task::complete_data_in(std::uint32_t produced, std::shared_ptr<const DataView> view) {
    Completion c;
    c.data_in_len = std::min(produced, cmd.expected_length);
    c.residual = static_cast<std::int64_t>(cmd.expected_length) - produced;
    c.data_view = std::move(view);
    finish(*this, c);
}

std::uint64_t duplicate_completions() { return g_duplicates.load(std::memory_order_relaxed); }

void Task::complete_with(std::span<const std::uint8_t> bytes) {
    if (completed.load(std::memory_order_acquire)) return report_duplicate(*this);  // cmd.data may be gone
    const auto n = std::min<std::size_t>(bytes.size(), cmd.data.size());
    if (n) std::memcpy(cmd.data.data(), bytes.data(), n);
    complete_data_in(static_cast<std::uint32_t>(bytes.size()));
}

void Task::complete_good(std::uint32_t needed) {
    Completion c;
    c.residual = static_cast<std::int64_t>(cmd.expected_length) - needed;
    finish(*this, c);
}

void Task::complete_sense(const Sense& s) {
    Completion c;
    c.status = scsi_status::check_condition;
    const bool desc = lu && lu->descriptor_sense();
    c.sense_len = desc ? encode_descriptor(s, c.sense.data(), c.sense.size())
                       : encode_fixed(s, c.sense.data(), c.sense.size());
    // No data moved on CHECK CONDITION: report the whole expected length as residual.
    c.residual = cmd.expected_length;
    finish(*this, c);
}

void Task::complete_sense(const Sense& s, std::uint32_t needed) {
    Completion c;
    c.status = scsi_status::check_condition;
    const bool desc = lu && lu->descriptor_sense();
    c.sense_len = desc ? encode_descriptor(s, c.sense.data(), c.sense.size())
                       : encode_fixed(s, c.sense.data(), c.sense.size());
    c.residual = static_cast<std::int64_t>(cmd.expected_length) - needed;
    finish(*this, c);
}

void Task::complete_status(std::uint8_t status) {
    Completion c;
    c.status = status;
    c.residual = cmd.expected_length;
    finish(*this, c);
}

void Task::complete(const Outcome& o) {
    if (o.sense) return complete_sense(*o.sense);
    if (o.status != scsi_status::good) return complete_status(o.status);
    complete_good(o.needed);
}

}  // namespace vstor::scsi
