// A command in flight inside the engine: the front end's Command plus where it is going.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

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

// What a synchronous handler step decided, for the task to complete with once it holds no lock
// (Task::complete): GOOD having used `needed` bytes of data-out, CHECK CONDITION with `sense`, or
// another status (RESERVATION CONFLICT, BUSY...).
struct Outcome {
    std::uint8_t status = scsi_status::good;
    std::optional<Sense> sense;
    std::uint32_t needed = 0;

    static Outcome good(std::uint32_t needed = 0) { return Outcome{scsi_status::good, std::nullopt, needed}; }
    static Outcome check(const Sense& s) { return Outcome{scsi_status::check_condition, s, 0}; }
    static Outcome with_status(std::uint8_t status) { return Outcome{status, std::nullopt, 0}; }
    bool is_good() const { return status == scsi_status::good && !sense; }
};

// Thread rule: a Task is touched by one thread at a time (the submitter, then whichever
// thread runs the backend completion). complete_*() must be called exactly once: a second call
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
    std::atomic<bool> completed{false};  // the first complete_*() has claimed the task
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    const std::uint8_t* cdb() const { return cmd.cdb.data(); }

    // Data-in buffer the initiator gave room for.
    std::span<std::byte> data() const { return cmd.data; }

    // Data-in command that produced `produced` bytes into data() (bytes past expected_length
    // are not copied), or lent them as `view` (Command::accept_data_view); residual per SAM:
    // expected - produced.
    void complete_data_in(std::uint32_t produced, std::shared_ptr<const DataView> view = nullptr);
    // Copy `bytes` (already clipped by the caller to the allocation length) to data-in and complete.
    void complete_with(std::span<const std::uint8_t> bytes);
    // Command that needed `needed` bytes of data-out (or 0): GOOD with residual expected - needed.
    void complete_good(std::uint32_t needed = 0);
    void complete_sense(const Sense& s);
    // CHECK CONDITION for a command that needed `needed` bytes of data (residual expected - needed).
    void complete_sense(const Sense& s, std::uint32_t needed);
    void complete_status(std::uint8_t status);  // e.g. RESERVATION CONFLICT, TASK ABORTED, BUSY
    void complete(const Outcome& o);
};

using TaskPtr = std::shared_ptr<Task>;

// How many complete_*() calls found their task already completed, since the process started
// (0 unless the engine has a bug; tests check it).
std::uint64_t duplicate_completions();

}  // namespace vstor::scsi
