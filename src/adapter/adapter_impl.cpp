#include "adapter/adapter_impl.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <thread>

#include "scsi/dispatch.hpp"
#include "scsi/logical_unit.hpp"
#include "scsi/lun_alua.hpp"
#include "scsi/persistent_reservations.hpp"
#include "scsi/task_set.hpp"
#include "util/side_by_side.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor {

std::unique_ptr<Adapter> Adapter::create(std::string name) {
    return std::make_unique<adapter::AdapterImpl>(std::move(name));
}

std::optional<LunAddress> Adapter::storport_address(std::uint8_t path_id, std::uint8_t target,
                                                    std::uint8_t lun) const {
    if (path_id != 0) return std::nullopt;
    return LunAddress{target, lun};
}

namespace adapter {

AdapterImpl::AdapterImpl(std::string name)
    : name_(std::move(name)), pool_(std::max(2u, std::thread::hardware_concurrency())) {}

namespace {

// Lets go of the LUs together, each on a thread of its own, and returns once every thread did: a
// backend may wait for its storage on the way out (an RBD LUN whose cluster does not answer
// waits up to 10 s), and a shutdown should take as long as the slowest of them, not their sum.
// An LU someone else still holds goes when they let go of it.
void release_together(std::vector<std::shared_ptr<scsi::LogicalUnit>> lus) {
    util::run_side_by_side(lus, [](std::shared_ptr<scsi::LogicalUnit>& lu) { lu.reset(); }, "closing a LUN");
}

}  // namespace

// The LUs' resize hooks point here: cleared (waiting for a call in flight) before the members go.
// Then the LUs leave their targets and are released together (release_together).
AdapterImpl::~AdapterImpl() {
    std::vector<std::shared_ptr<scsi::Target>> targets;
    {
        std::lock_guard lk(mu_);
        for (const auto& [id, t] : targets_) targets.push_back(t);
    }
    std::vector<std::shared_ptr<scsi::LogicalUnit>> lus;
    for (const auto& t : targets)
        for (auto& lu : t->luns()) {
            lu->set_resize_hook({});
            t->erase_lun(lu->lun());
            lus.push_back(std::move(lu));
        }
    release_together(std::move(lus));
}

std::shared_ptr<scsi::Target> AdapterImpl::target(std::uint16_t id) const {
    std::lock_guard lk(mu_);
    auto it = targets_.find(id);
    return it == targets_.end() ? nullptr : it->second;
}

Result<std::uint16_t> AdapterImpl::add_target(const std::string& name) {
    if (name.empty()) return {std::nullopt, "target name must not be empty"};
    std::lock_guard lk(mu_);
    std::uint16_t id = 0;
    for (const auto& [tid, t] : targets_) {
        if (t->name() == name) return {std::nullopt, "target '" + name + "' already exists"};
        if (tid >= id) id = static_cast<std::uint16_t>(tid + 1);
    }
    targets_.emplace(id, std::make_shared<scsi::Target>(id, name));
    return {id, {}};
}

Status AdapterImpl::remove_target(std::uint16_t target_id) {
    std::lock_guard lk(mu_);
    auto it = targets_.find(target_id);
    if (it == targets_.end()) return error_status("no target with id " + std::to_string(target_id));
    if (!it->second->lun_ids().empty()) return error_status("target still has LUNs; remove them first");
    targets_.erase(it);
    return ok_status();
}

std::optional<std::uint16_t> AdapterImpl::find_target(const std::string& name) const {
    std::lock_guard lk(mu_);
    for (const auto& [id, t] : targets_)
        if (t->name() == name) return id;
    return std::nullopt;
}

Status AdapterImpl::add_lun(std::uint16_t target_id, std::uint16_t lun,
                            std::shared_ptr<Backend> backend, LunOptions opts) {
    auto t = target(target_id);
    if (!t) return error_status("no target with id " + std::to_string(target_id));
    if (!backend) return error_status("no backend given");
    if (backend->api_version() != backend_api_version)
        return error_status("backend was built for backend contract v" + std::to_string(backend->api_version()) +
                            "; this vstor implements v" + std::to_string(backend_api_version));
    if (lun >= 16384) return error_status("LUN number must be below 16384");
    const auto bs = backend->block_size();
    if (bs < 512 || bs > 65536 || (bs & (bs - 1)))
        return error_status("block size must be a power of two between 512 and 65536");
    if (backend->block_count() == 0) return error_status("backend has zero blocks");
    if (const auto p = opts.physical_block_size; p && (p < bs || (p & (p - 1)) || p > (bs << 15)))
        return error_status("physical block size must be a power of two of at least the block size");
    auto lu = std::make_shared<scsi::LogicalUnit>(t.get(), lun, std::move(backend), std::move(opts));
    lu->set_resize_hook([this](scsi::LogicalUnit& l) { resized_elsewhere(l); });
    std::unique_lock changing(changes_mu_);
    if (!t->insert_lun(lun, lu)) return error_status("LUN " + std::to_string(lun) + " already exists");
    t->broadcast_ua_all_luns(scsi::sense::ua_reported_luns_changed());
    publish(changing, *t, lun, LunChange::added, lu->options().name);
    // A shared LUN: the other gateways learn this one's group and ports. Outside changes_mu_: the
    // backend may hold the lock it publishes under while its callback waits for changes_mu_.
    if (auto* alua = lu->alua()) {
        alua->note_port(port_group_.load(), 0);
        for (const auto& n : t->nexuses()) alua->note_port(n->port_group(), n->relative_port());
    }
    return ok_status();
}

void AdapterImpl::resized_elsewhere(scsi::LogicalUnit& lu) {
    std::unique_lock changing(changes_mu_);
    const auto was = lu.block_count(), now = lu.backend().block_count();
    if (now == was) return;  // a local resize_lun, serialized before this, took it already
    if (lu.target().find_lun(lu.lun()).get() != &lu) return lu.refresh_capacity();  // not (or no longer) served
    spdlog::info("{} LUN {}: capacity now {} blocks (was {}), resized elsewhere", lu.target().name(), lu.lun(), now,
                 was);
    lu.capacity_changed();
    publish(changing, lu.target(), lu.lun(), LunChange::resized, lu.options().name);
}

Result<std::shared_ptr<scsi::LogicalUnit>> AdapterImpl::find_lu(std::uint16_t target_id, std::uint16_t lun) const {
    auto t = target(target_id);
    if (!t) return {std::nullopt, "no target with id " + std::to_string(target_id)};
    auto lu = t->find_lun(lun);
    if (!lu) return {std::nullopt, "no LUN " + std::to_string(lun) + " on target " + t->name()};
    return {lu, {}};
}

Status AdapterImpl::remove_lun(std::uint16_t target_id, std::uint16_t lun, bool force) {
    std::shared_ptr<scsi::LogicalUnit> removed;  // let go of at the end, with no lock held
    {
        std::unique_lock changing(changes_mu_);
        auto found = find_lu(target_id, lun);
        if (!found) return error_status(found.error);
        auto& lu = *found.value;
        auto t = target(target_id);
        if (!force && lu->in_flight.load() > 0)
            return error_status("LUN " + std::to_string(lun) + " has commands in flight (use force)");
        if (!force && lu->reservations().holder())
            return error_status("LUN " + std::to_string(lun) + " is reserved by " + *lu->reservations().holder() +
                                " (use force)");
        t->erase_lun(lun);
        for (const auto& n : t->nexuses()) n->clear_ua(lun);
        t->broadcast_ua_all_luns(scsi::sense::ua_reported_luns_changed());
        removed = std::move(lu);
        publish(changing, *t, lun, LunChange::removed, removed->options().name);  // releases changes_mu_
    }
    // Forced removal: commands still running end with TASK ABORTED (TAS) for their initiators.
    // The abort waits for those the backend is running (it cannot cancel them): without the lock.
    if (force) removed->task_set().abort(scsi::TaskSet::Scope{}, nullptr, true);
    release_removed(std::move(removed));
    return ok_status();
}

// The backend may wait for its storage on the way out (an RBD LUN whose cluster does not answer
// waits up to 10 s): that happens here, with no lock of the adapter's held, so that other LUNs'
// changes and targets() go on meanwhile. Usually this is the last holder and the LU is destroyed
// right here. Otherwise this waits until whoever let go last destroyed it: while commands still
// run on it (one that found the LUN just before it went) or it is being destroyed, at most
// kRemovedLunWait; once only completed commands hold it, kRemovedLunGrace: a read whose data
// the backend lent stays until its connection sent it, and a removal does not wait for that.
void AdapterImpl::release_removed(std::shared_ptr<scsi::LogicalUnit> lu) {
    using Clock = std::chrono::steady_clock;
    const auto gone = lu->gone();
    const std::weak_ptr<scsi::LogicalUnit> held = lu;
    const auto what = lu->target().name() + " LUN " + std::to_string(lu->lun());
    lu.reset();
    const auto deadline = Clock::now() + kRemovedLunWait;
    auto grace_end = Clock::time_point::max();
    while (!gone->wait_until(std::min({deadline, grace_end, Clock::now() + std::chrono::milliseconds(10)}))) {
        const auto now = Clock::now();
        if (now >= grace_end) {
            spdlog::debug("{}: removed; its backend closes once the data it lent is sent", what);
            return;
        }
        if (now >= deadline) {
            spdlog::warn("{}: removed, but commands in flight still hold it after {} s: its backend closes when "
                         "they end",
                         what, std::chrono::duration_cast<std::chrono::seconds>(kRemovedLunWait).count());
            return;
        }
        auto alive = held.lock();  // expired but not gone: being destroyed elsewhere, wait for it
        if (alive && alive->in_flight.load() == 0 && grace_end == Clock::time_point::max())
            grace_end = now + kRemovedLunGrace;
    }
}

Status AdapterImpl::resize_lun(std::uint16_t target_id, std::uint16_t lun,
                               std::uint64_t new_block_count) {
    std::unique_lock changing(changes_mu_);  // held across the backend's resize: changes wait for it
    auto found = find_lu(target_id, lun);
    if (!found) return error_status(found.error);
    auto& lu = *found.value;
    if (new_block_count == 0) return error_status("size must be at least one block");
    const auto st = lu->backend().resize(new_block_count);
    if (st != IoStatus::ok)
        return error_status(std::string("backend cannot resize: ") + to_string(st));
    lu->capacity_changed();
    const auto t = target(target_id);
    publish(changing, *t, lun, LunChange::resized, lu->options().name);
    return ok_status();
}

Status AdapterImpl::set_lun_read_only(std::uint16_t target_id, std::uint16_t lun, bool read_only) {
    auto found = find_lu(target_id, lun);
    if (!found) return error_status(found.error);
    (*found.value)->set_admin_read_only(read_only);
    return ok_status();
}

Status AdapterImpl::set_medium(std::uint16_t target_id, std::uint16_t lun, bool present, bool force) {
    std::unique_lock changing(changes_mu_);
    auto found = find_lu(target_id, lun);
    if (!found) return error_status(found.error);
    auto& lu = *found.value;
    if (!lu->removable()) return error_status("LUN " + std::to_string(lun) + " is not removable");
    if (!present && !force && lu->removal_prevented())
        return error_status("an initiator prevents medium removal from LUN " + std::to_string(lun) + " (use force)");
    if (lu->medium_present.exchange(present) == present) return ok_status();
    // SBC-4: a medium change is reported to every initiator as NOT READY TO READY CHANGE.
    const auto t = target(target_id);
    if (present) t->broadcast_ua(lun, scsi::sense::ua_medium_may_have_changed());
    publish(changing, *t, lun, LunChange::medium_changed, lu->options().name);
    return ok_status();
}

std::optional<LunStats> AdapterImpl::lun_stats(std::uint16_t target_id, std::uint16_t lun) const {
    auto found = find_lu(target_id, lun);
    if (!found) return std::nullopt;
    return (*found.value)->counters.snapshot();
}

LunSubscription AdapterImpl::subscribe_lun_events(LunEventCallback callback) {
    return lun_events_.subscribe(std::move(callback));
}

void AdapterImpl::publish(std::unique_lock<std::mutex>& changing, const scsi::Target& t, std::uint16_t lun,
                          LunChange change, const std::string& lun_name) {
    const auto sequence = lun_events_.post(LunEvent{change, t.id(), t.name(), lun, lun_name, 0});
    changing.unlock();
    lun_events_.deliver(sequence);
}

std::vector<TargetInfo> AdapterImpl::targets() const {
    std::vector<TargetInfo> out;
    std::lock_guard lk(mu_);
    for (const auto& [id, t] : targets_) {
        TargetInfo ti{id, t->name(), {}};
        for (const auto& lu : t->luns())
        {
            const auto holder = lu->reservations().holder();
            ti.luns.push_back(LunInfo{lu->lun(), lu->backend().kind(), lu->block_size(), lu->block_count(),
                                      lu->read_only(), lu->removable(), lu->thin(), lu->medium_present.load(),
                                      holder.has_value(), holder.value_or(""), lu->in_flight.load(),
                                      lu->options().name});
        }
        out.push_back(std::move(ti));
    }
    return out;
}

std::shared_ptr<Nexus> AdapterImpl::open_nexus(std::uint16_t target_id,
                                               const std::string& initiator_port,
                                               std::uint16_t relative_port,
                                               std::optional<std::vector<std::uint16_t>> visible_luns) {
    auto t = target(target_id);
    if (!t) return nullptr;
    auto n = std::make_shared<scsi::NexusState>(initiator_port, target_id, relative_port,
                                                next_nexus_id_.fetch_add(1), std::move(visible_luns),
                                                port_group_.load());
    // A new nexus starts without unit attentions: nothing happened to it yet. (Initiators such as
    // libiscsi expect the first command of a fresh login to succeed.)
    t->attach(n);
    for (const auto& lu : t->luns())
        if (auto* alua = lu->alua()) alua->note_port(n->port_group(), relative_port);
    return n;
}

void AdapterImpl::nexus_lost(const std::shared_ptr<Nexus>& nexus) {
    if (!nexus) return;
    auto t = target(nexus->target_id());
    if (!t) return;
    // Without waiting for the nexus's commands still in the backend: the caller is usually a
    // front end's event loop, which must never wait for a store that may not answer.
    for (const auto& lu : t->luns()) release_nexus(lu, nexus, nullptr);
}

void AdapterImpl::submit(Command cmd, CompletionCallback done) {
    auto task = std::make_shared<scsi::Task>();
    task->cmd = std::move(cmd);
    task->done = std::move(done);
    task->nexus = static_cast<scsi::NexusState*>(task->cmd.nexus.get());
    if (task->nexus) task->target = target(task->nexus->target_id());
    if (const auto lun = decode_sam_lun(task->cmd.lun); lun && task->target) {
        task->lun_id = *lun;
        task->lu = task->nexus && !task->nexus->sees(*lun) ? nullptr : task->target->find_lun(*lun);
    } else {
        task->lun_id = 0xffff;
    }
    if (!task->target) return task->complete(scsi::Outcome::check(scsi::sense::invalid_lun()));
    scsi::dispatch(task, pool_);
}

}  // namespace adapter
void set_target_port_group(Adapter& a, std::uint16_t group) {
    // Adapter::create makes every Adapter there is.
    static_cast<adapter::AdapterImpl&>(a).set_target_port_group(group);
}

}  // namespace vstor
