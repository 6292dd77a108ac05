#include "scsi/task_set.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "scsi/nexus_state.hpp"
#include "util/thread_pool.hpp"

namespace vstor::scsi {

void TaskSet::enter(const TaskPtr& t, Runner run) {
    bool now = false;
    {
        std::lock_guard lk(mu_);
        run_ = run;
        const auto attr = t->cmd.attr;
        if (attr == TaskAttribute::head_of_queue) {
            now = true;
        } else if (!blocked_.empty() || ordered_running_ > 0 ||
                   (attr == TaskAttribute::ordered && !running_.empty())) {
            blocked_.push_back(t);
            spdlog::debug("task set: tag {:#x} (attr {}) waits: {} running, {} ordered, {} queued", t->cmd.tag,
                          static_cast<int>(attr), running_.size(), ordered_running_, blocked_.size());
            for (const auto& r : running_)
                spdlog::debug("task set:   running tag {:#x} op {:#x} attr {} aborted {}", r->cmd.tag, r->cmd.cdb[0],
                              static_cast<int>(r->cmd.attr), r->aborted.load());
        } else {
            now = true;
            if (attr == TaskAttribute::ordered) ++ordered_running_;
        }
        if (now) add_running(t);
    }
    if (now) run(t);
}

void TaskSet::drain_locked(std::vector<TaskPtr>& to_run) {
    while (!blocked_.empty() && ordered_running_ == 0) {
        auto& front = blocked_.front();
        if (front->cmd.attr == TaskAttribute::ordered) {
            if (!running_.empty()) break;
            ++ordered_running_;
            add_running(front);
            to_run.push_back(front);
            blocked_.pop_front();
            break;
        }
        add_running(front);
        to_run.push_back(front);
        blocked_.pop_front();
    }
}

void TaskSet::add_running(const TaskPtr& t) {
    t->running_slot = running_.size();
    running_.push_back(t);
}

// O(1): the task knows its slot; the last running task takes it (running_ has no order).
TaskPtr TaskSet::take_running(Task* t) {
    const std::size_t slot = t->running_slot;
    if (slot >= running_.size() || running_[slot].get() != t) return nullptr;  // not running
    TaskPtr taken = std::move(running_[slot]);
    if (slot + 1 != running_.size()) {
        running_[slot] = std::move(running_.back());
        running_[slot]->running_slot = slot;
    }
    running_.pop_back();
    return taken;
}

TaskPtr TaskSet::leave(Task* t) {
    std::vector<TaskPtr> to_run;
    std::vector<std::function<void()>> after;  // abort_then() continuations this leave completes
    TaskPtr keep;
    Runner run;
    {
        std::lock_guard lk(mu_);
        keep = take_running(t);
        if (!keep) return nullptr;
        if (t->cmd.attr == TaskAttribute::ordered && ordered_running_ > 0) --ordered_running_;
        drain_locked(to_run);
        run = run_;
        idle_cv_.notify_all();
        for (auto it = after_abort_.begin(); it != after_abort_.end();) {
            std::erase(it->running, t);
            if (it->running.empty()) {
                after.push_back(std::move(it->then));
                it = after_abort_.erase(it);
            } else {
                ++it;
            }
        }
    }
    // Not on this thread (a backend's, inside its `done`): the continuations take other locks.
    if (!after.empty()) t->pool->post([after = std::move(after)] {
        for (const auto& fn : after) fn();
    });
    if (!to_run.empty()) {
        // Never start them here: this is whichever thread completed `t`, often a backend's own
        // thread inside its `done`, which must not be re-entered (nor a lock it holds retaken).
        util::ThreadPool* pool = to_run.front()->pool;
        pool->post([to_run = std::move(to_run), run] {
            for (const auto& r : to_run) {
                if (r->aborted.load())
                    r->complete(Outcome::with_status(scsi_status::task_aborted));
                else
                    run(r);
            }
        });
    }
    return keep;
}

TaskPtr TaskSet::hold_lent(Task* t) {
    std::lock_guard lk(mu_);
    const std::size_t slot = t->running_slot;
    if (t->aborted.load() || slot >= running_.size() || running_[slot].get() != t) return nullptr;
    t->lent = true;
    return running_[slot];
}

bool TaskSet::matches(const Task& t, const Scope& s) const {
    if (t.lent) return false;  // completed: only its data is still being sent
    if (s.nexus && t.cmd.nexus.get() != s.nexus) return false;
    if (s.tag && t.cmd.tag != *s.tag) return false;
    return true;
}

std::size_t TaskSet::mark_locked(const Scope& scope, const void* by, bool tas, std::vector<TaskPtr>& dropped,
                                 std::vector<Task*>& running) {
    std::size_t matched = 0;
    for (auto it = blocked_.begin(); it != blocked_.end();) {
        if (matches(**it, scope)) {
            (*it)->aborted = true;
            (*it)->abort_reported = tas && (*it)->cmd.nexus.get() != by;
            dropped.push_back(std::move(*it));
            it = blocked_.erase(it);
            ++matched;
        } else {
            ++it;
        }
    }
    for (const auto& t : running_) {
        if (!matches(*t, scope)) continue;
        t->aborted = true;
        t->abort_reported = tas && t->cmd.nexus.get() != by;
        running.push_back(t.get());
        ++matched;
    }
    return matched;
}

bool TaskSet::still_running(const Task* t) const {
    return std::any_of(running_.begin(), running_.end(), [t](const TaskPtr& p) { return p.get() == t; });
}

std::unique_lock<std::mutex> TaskSet::mark_aborted(const Scope& scope, const void* by, bool tas,
                                                   std::vector<Task*>& running, std::size_t& matched) {
    std::vector<TaskPtr> dropped;
    std::unique_lock lk(mu_);
    matched = mark_locked(scope, by, tas, dropped, running);
    lk.unlock();
    for (const auto& t : dropped) t->complete(Outcome::with_status(scsi_status::task_aborted));
    lk.lock();
    return lk;
}

std::size_t TaskSet::abort(const Scope& scope, const void* by, bool tas) {
    std::vector<Task*> waiting;
    std::size_t matched = 0;
    auto lk = mark_aborted(scope, by, tas, waiting, matched);
    // SAM-5 7.1: the TMF completes only after the affected tasks are terminated. Running tasks
    // cannot be cancelled inside a backend, so wait for them (their results are discarded).
    idle_cv_.wait(lk, [&] { return std::none_of(waiting.begin(), waiting.end(), [&](Task* w) { return still_running(w); }); });
    return matched;
}

void TaskSet::abort_then(const Scope& scope, const void* by, bool tas, std::function<void(std::size_t)> then) {
    std::vector<Task*> waiting;
    std::size_t matched = 0;
    auto lk = mark_aborted(scope, by, tas, waiting, matched);
    std::erase_if(waiting, [&](Task* w) { return !still_running(w); });  // left while unlocked
    if (!waiting.empty()) {
        after_abort_.push_back({std::move(waiting), [then = std::move(then), matched] { then(matched); }});
        return;
    }
    lk.unlock();
    then(matched);
}

bool TaskSet::contains(const Scope& scope) const {
    std::lock_guard lk(mu_);
    for (const auto& t : running_)
        if (matches(*t, scope)) return true;
    for (const auto& t : blocked_)
        if (matches(*t, scope)) return true;
    return false;
}

std::size_t TaskSet::size() const {
    std::lock_guard lk(mu_);
    return running_.size() + blocked_.size();
}

}  // namespace vstor::scsi
