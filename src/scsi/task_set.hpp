// The task set of one logical unit (SAM-5 8): task attributes and task management.
// SIMPLE tasks run concurrently; an ORDERED task waits for every older task and blocks every
// newer non-HEAD OF QUEUE task until it completes; HEAD OF QUEUE runs at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "scsi/task.hpp"

namespace vstor::scsi {

class TaskSet {
public:
    using Runner = void (*)(const TaskPtr&);

    // Admit a checked task: runs it now via `run` or queues it behind an ORDERED barrier.
    void enter(const TaskPtr& t, Runner run);
    // Called once when a task completes, before its response is built: posts whatever the
    // completion unblocks to the worker pool (Task::pool), never running it on the completing
    // thread, and hands back the set's reference so the caller decides when the task dies.
    // Reading Task::aborted after this is race-free against abort().
    TaskPtr leave(Task* t);
    // Called instead of leave() when a task completes with data-in its backend lent
    // (Completion::data_view), which the front end reads when it sends it, after the completion.
    // Unless an abort has claimed the task, it stays in the set as `lent`: the tasks behind it
    // are still ordered after it (an ORDERED write waits, so it cannot show through the data),
    // but task management no longer sees it, because it has completed (abort() neither waits for
    // it nor counts it, so a TMF never waits for a connection to send). Returns the set's
    // reference; whoever holds the view calls leave() once the data is out. Null: leave() now.
    TaskPtr hold_lent(Task* t);

    // Which tasks a task management function affects.
    struct Scope {
        const void* nexus = nullptr;  // only this nexus's tasks (nullptr = every nexus)
        std::optional<std::uint64_t> tag;  // only this tag (ABORT TASK / QUERY TASK)
    };
    // Marks matching tasks aborted (queued ones complete at once), waits until every running
    // match has completed, and returns how many matched (lent tasks have completed: not them). `by` is the nexus asking, so tasks of
    // other nexuses can be reported with TASK ABORTED when TAS=1.
    std::size_t abort(const Scope& scope, const void* by, bool tas);
    // The same without waiting, for task management and a nexus that is gone (no thread may wait
    // for a backend, which may never answer): `then(matched)` runs once every running match has
    // completed, at once on this thread when none is running, else on the worker pool (Task::pool)
    // after the last one leaves. If one never completes, `then` never runs (a running task holds
    // its LU, so the set, and the continuation with it, lives as long as the task).
    void abort_then(const Scope& scope, const void* by, bool tas, std::function<void(std::size_t matched)> then);
    bool contains(const Scope& scope) const;
    std::size_t size() const;

private:
    bool matches(const Task& t, const Scope& s) const;
    // What abort() and abort_then() share: marks the matches, completes the queued ones (unlocked)
    // and lists the running ones in `running`; returns the set's lock, held again.
    std::unique_lock<std::mutex> mark_aborted(const Scope& scope, const void* by, bool tas,
                                              std::vector<Task*>& running, std::size_t& matched);
    // Its part under the lock: the queued matches go to `dropped`; returns how many matched.
    std::size_t mark_locked(const Scope& scope, const void* by, bool tas, std::vector<TaskPtr>& dropped,
                            std::vector<Task*>& running);
    bool still_running(const Task* t) const;
    void drain_locked(std::vector<TaskPtr>& to_run);
    void add_running(const TaskPtr& t);
    TaskPtr take_running(Task* t);  // null if `t` is not running

    mutable std::mutex mu_;  // guards everything below
    std::condition_variable idle_cv_;
    std::vector<TaskPtr> running_;  // in no order: each task knows its slot (Task::running_slot)
    std::deque<TaskPtr> blocked_;
    std::size_t ordered_running_ = 0;
    Runner run_ = nullptr;
    struct AfterAbort {
        std::vector<Task*> running;  // what it still waits for; each leaves through leave()
        std::function<void()> then;
    };
    std::vector<AfterAbort> after_abort_;
};

}  // namespace vstor::scsi
