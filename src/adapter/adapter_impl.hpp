// The virtual HBA: owns targets (and through them LUNs) and the worker pool for slow commands.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>

#include "adapter/lun_event_bus.hpp"
#include "scsi/target.hpp"
#include "util/thread_pool.hpp"
#include "vstor/adapter.hpp"

namespace vstor::adapter {

class AdapterImpl final : public Adapter {
public:
    explicit AdapterImpl(std::string name);
    ~AdapterImpl() override;

    Result<std::uint16_t> add_target(const std::string& name) override;
    Status remove_target(std::uint16_t target_id) override;
    std::optional<std::uint16_t> find_target(const std::string& name) const override;

    Status add_lun(std::uint16_t target_id, std::uint16_t lun, std::shared_ptr<Backend> backend,
                   LunOptions opts) override;
    Status remove_lun(std::uint16_t target_id, std::uint16_t lun, bool force) override;
    Status resize_lun(std::uint16_t target_id, std::uint16_t lun,
                      std::uint64_t new_block_count) override;
    std::vector<TargetInfo> targets() const override;
    Status set_lun_read_only(std::uint16_t target_id, std::uint16_t lun, bool read_only) override;
    Status set_medium(std::uint16_t target_id, std::uint16_t lun, bool present, bool force) override;
    std::optional<LunStats> lun_stats(std::uint16_t target_id, std::uint16_t lun) const override;
    LunSubscription subscribe_lun_events(LunEventCallback callback) override;

    std::shared_ptr<Nexus> open_nexus(std::uint16_t target_id, const std::string& initiator_port,
                                      std::uint16_t relative_port,
                                      std::optional<std::vector<std::uint16_t>> visible_luns) override;

    void nexus_lost(const std::shared_ptr<Nexus>& nexus) override;
    void submit(Command cmd, CompletionCallback done) override;
    TmfResponse task_management(const TmfRequest& req) override;  // task_management.cpp
    void task_management_async(const TmfRequest& req, TmfCallback done) override;
    bool flush_all() override;  // final_flush.cpp
    bool flush_all_within(std::chrono::milliseconds limit, std::stop_token stop) override;
    void set_target_port_group(std::uint16_t group) { port_group_.store(group); }

private:
    std::shared_ptr<scsi::Target> target(std::uint16_t id) const;
    // Aborts the nexus's tasks on `lu` without waiting; once the running ones have completed (at
    // once when none runs) its SPC-2 reservation and medium-removal prevention there go, then
    // `then(lu)` runs if given (null: the LU was removed meanwhile). task_management.cpp.
    static void release_nexus(const std::shared_ptr<scsi::LogicalUnit>& lu, const std::shared_ptr<Nexus>& nexus,
                              std::function<void(scsi::LogicalUnit*)> then);
    // The LUN, or an error naming what is missing.
    Result<std::shared_ptr<scsi::LogicalUnit>> find_lu(std::uint16_t target_id, std::uint16_t lun) const;
    // Lets go of a LUN remove_lun took out and waits (bounded) until it and its backend are gone.
    void release_removed(std::shared_ptr<scsi::LogicalUnit> lu);
    static constexpr std::chrono::seconds kRemovedLunWait{15};
    static constexpr std::chrono::milliseconds kRemovedLunGrace{200};
    // A shared LUN's size changed through another gateway (LogicalUnit::resized_elsewhere): the
    // same capacity change, unit attention and LUN event as resize_lun.
    void resized_elsewhere(scsi::LogicalUnit& lu);
    // Puts the change in the bus order while `changing` (on changes_mu_) still holds, releases
    // it, and returns once every subscriber has the event.
    void publish(std::unique_lock<std::mutex>& changing, const scsi::Target& t, std::uint16_t lun,
                 LunChange change, const std::string& lun_name);

    const std::string name_;
    mutable std::mutex mu_;  // guards targets_ (the map, not the targets)
    std::map<std::uint16_t, std::shared_ptr<scsi::Target>> targets_;
    std::atomic<std::uint64_t> next_nexus_id_{1};
    std::atomic<std::uint16_t> port_group_{1};  // ALUA target port group of every nexus opened
    util::ThreadPool pool_;
    // Serializes LUN changes (add, remove, resize, medium) with their place in the event order, so
    // that subscribers see them in the order they took effect. Never held while events are delivered,
    // nor while a removed LUN's backend closes (release_removed).
    std::mutex changes_mu_;
    LunEventBus lun_events_;
};

}  // namespace vstor::adapter
