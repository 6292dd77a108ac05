// A command in flight inside the engine: the front end's Command plus where it is going.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "scsi/sense.hpp"
#include "vstor/command.hpp"

namespace vstor::util {
class ThreadPool;
}

namespace vstor::scsi {

class LogicalUnit;
class Target;
class NexusState;
struct CommandInfo;

// How a command ends, as a handler (or one of its steps) decided it, for the engine to complete
// the task with once, holding no lock (Task::complete; LIO's sense_reason_t returns and
// target_complete_cmd are the model): GOOD having used `needed` bytes of data-out, data-in of
// `produced` bytes (or a lent `view`), CHECK CONDITION with `sense`, another status
// (RESERVATION CONFLICT, CONDITION MET, BUSY...), or pending: an asynchronous step completes the
// task later, through the same Task::complete.
struct Outcome {
    std::uint8_t status = scsi_status::good;
    std::optional<Sense> sense;
    std::uint32_t needed = 0;                 // residual = expected - needed
    std::optional<std::uint32_t> produced;    // data-in: residual = expected - produced
    std::shared_ptr<const DataView> view;     // data-in lent (Command::accept_data_view)
    bool is_pending = false;
    std::string why;  // a failed backend call's message (IoCallback), logged with the sense

    static Outcome good(std::uint32_t needed = 0) {
        Outcome o;
        o.needed = needed;
        return o;
    }
    // CHECK CONDITION; `needed`: the data-out the command needed (residual = expected - needed).
    static Outcome check(const Sense& s, std::uint32_t needed = 0) {
        Outcome o;
        o.status = scsi_status::check_condition;
        o.sense = s;
        o.needed = needed;
        return o;
    }
    static Outcome with_status(std::uint8_t status) {
        Outcome o;
        o.status = status;
        return o;
    }
    // Data-in of `produced` bytes already in Task::data() (bytes past expected_length are not
    // returned), or lent as `view`.
    static Outcome data_in(std::uint32_t produced, std::shared_ptr<const DataView> view = nullptr) {
        Outcome o;
        o.produced = produced;
        o.view = std::move(view);
        return o;
    }
    static Outcome pending() {
        Outcome o;
        o.is_pending = true;
        return o;
    }
    bool is_good() const { return status == scsi_status::good && !sense; }
};

// A backend call's end as an outcome: `if_ok` when it succeeded, else CHECK CONDITION with the
// sense the IoStatus maps to (sense::from_io_status, the one mapping); `why` is the backend's
// message, logged with it.
Outcome io_outcome(IoStatus s, bool is_write, Outcome if_ok, std::string_view why = {});

// Thread rule: a Task is touched by one thread at a time (the submitter, then whichever
// thread runs the backend completion). complete() must be called exactly once: a second call
// is an engine bug, and is logged, counted (duplicate_completions) and dropped, so the front end
// never hears of a command twice.
struct Task {
    Command cmd;
    CompletionCallback done;
    std::shared_ptr<Target> target;
    std::shared_ptr<LogicalUnit> lu;  // null for commands to a LUN that does not exist
    NexusState* nexus = nullptr;      // kept alive by cmd.nexus
    const CommandInfo* info = nullptr;
    util::ThreadPool* pool = nullptr;  // the adapter's workers: blocking handlers, released tasks
    std::uint16_t lun_id = 0;
    std::atomic<bool> aborted{false};
    bool abort_reported = false;  // aborted by another nexus with TAS=1: answer TASK ABORTED
    bool in_task_set = false;     // admitted to the LU's task set (leave() on completion)
    bool lent = false;            // completed, in the set until its lent data is sent (TaskSet::mu_)
    std::size_t running_slot = 0; // its index in TaskSet::running_ while there (TaskSet::mu_)
    std::atomic<bool> completed{false};  // the first complete() has claimed the task
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    const std::uint8_t* cdb() const { return cmd.cdb.data(); }

    // Data-in buffer the initiator gave room for.
    std::span<std::byte> data() const { return cmd.data; }

    // The one completion: builds the front end's Completion from `o` (sense encoded in the LU's
    // format, residual per SAM-5) and hands it over. `o` must not be pending.
    void complete(const Outcome& o);
};

using TaskPtr = std::shared_ptr<Task>;

// Copies `bytes` (already clipped by the caller to the allocation length) to the task's data-in
// buffer: the outcome of a command that returns parameter data.
Outcome reply_data(Task& t, std::span<const std::uint8_t> bytes);

// How many complete() calls found their task already completed, since the process started
// (0 unless the engine has a bug; tests check it).
std::uint64_t duplicate_completions();

}  // namespace vstor::scsi
