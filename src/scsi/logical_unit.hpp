// A logical unit: one backend plus the SCSI state SPC/SBC keep for it (mode pages, medium,
// reservations). Commands reach it through dispatch.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "scsi/sense.hpp"
#include "scsi/lun_stats.hpp"
#include "util/done_flag.hpp"
#include "util/rate_limiter.hpp"
#include "vstor/adapter.hpp"
#include "vstor/backend.hpp"

namespace vstor::scsi {

class Target;
class Reservations;
class TaskSet;
class LunAlua;

// Mode parameters that the initiator can change (MODE SELECT). Guarded by LogicalUnit::mode_mu.
struct ModeState {
    bool wce = true;        // caching page 08h: write cache enable
    bool rcd = false;       // read cache disable
    bool d_sense = false;   // control page 0Ah: descriptor-format sense
    bool swp = false;       // control page: software write protect
    std::uint8_t queue_alg = 1;  // control page: unrestricted reordering allowed
    bool tas = true;        // task aborted status
    std::uint8_t mrie = 0;  // IEC page 1Ch
};

class LogicalUnit {
    // The first member, so the last destroyed: set once the LU's members, the backend among them,
    // are gone (unless something else still holds the backend).
    util::SetOnDestroy gone_;

public:
    LogicalUnit(Target* target, std::uint16_t lun, std::shared_ptr<Backend> backend, LunOptions opts);
    ~LogicalUnit();
    // Set when this LU is destroyed, on whichever thread let go of it last: Adapter::remove_lun
    // waits for it, so that a removal returns once the backend closed.
    std::shared_ptr<const util::DoneFlag> gone() const { return gone_.flag(); }

    Target& target() const { return *target_; }
    std::uint16_t lun() const { return lun_; }
    Backend& backend() const { return *backend_; }
    const std::shared_ptr<Backend>& backend_ptr() const { return backend_; }
    const LunOptions& options() const { return opts_; }

    std::uint32_t block_size() const { return block_size_; }
    // Logical blocks per physical block (a power of two, 1 unless LunOptions asks otherwise).
    std::uint32_t blocks_per_physical_block() const {
        const auto p = opts_.physical_block_size;
        return p > block_size_ ? p / block_size_ : 1;
    }
    std::uint64_t block_count() const { return block_count_.load(std::memory_order_acquire); }
    void refresh_capacity() { block_count_.store(backend_->block_count(), std::memory_order_release); }
    // The backend's size changed (Adapter::resize_lun, or a shared LUN's data resized elsewhere):
    // take it, and every nexus gets CAPACITY DATA HAS CHANGED.
    void capacity_changed();
    // The backend's size changed without Adapter::resize_lun (a shared LUN's data resized through
    // another gateway, scsi/lun_alua.cpp): the hook the adapter set takes it as resize_lun does
    // (capacity, unit attention, LUN event); without one, capacity_changed(). Setting an empty
    // hook waits for a call in flight.
    void set_resize_hook(std::function<void(LogicalUnit&)> hook);
    void resized_elsewhere();

    bool read_only() const;  // option, backend capability or SWP
    bool removable() const { return opts_.removable || backend_->caps().removable; }
    bool thin() const { return backend_->caps().thin; }

    ModeState mode() const;
    void set_mode(const ModeState& m);
    // The mode bits every READ/WRITE or completion reads, without mode_mu_ (set_mode keeps them).
    bool write_cache_enabled() const { return hot_mode_.load(std::memory_order_acquire) & kHotWce; }
    bool descriptor_sense() const { return hot_mode_.load(std::memory_order_acquire) & kHotDSense; }

    // Removable medium state (START STOP UNIT / PREVENT ALLOW MEDIUM REMOVAL).
    std::atomic<bool> medium_present{true};
    // PREVENT ALLOW MEDIUM REMOVAL is per I_T nexus (SBC-4 5.14): the initiator ports preventing.
    void set_prevent(const std::string& nexus_key, bool prevent);  // NexusState::instance_key()
    bool removal_prevented() const;
    void clear_prevent(const std::string* initiator_port);  // nullptr: every nexus (reset)
    // SANITIZE in progress: progress 0..65535 for REQUEST SENSE; -1 when idle.
    std::atomic<int> sanitize_progress{-1};

    Reservations& reservations() { return *reservations_; }
    TaskSet& task_set() { return *task_set_; }

    std::atomic<std::uint64_t> in_flight{0};
    LunCounters counters;  // what `vstor ctl stats` shows
    // Administrative write protection (`vstor ctl lun set-ro`), initially the LUN option.
    void set_admin_read_only(bool ro) { admin_read_only_.store(ro, std::memory_order_release); }
    // Serializes read-modify-write commands (COMPARE AND WRITE, ORWRITE, WRITE ATOMIC) with each
    // other; they run on the worker pool, so holding it across backend calls blocks no event loop.
    std::mutex atomic_mu;
    // Identity, resolved once when the LUN is added: LunOptions, else Backend::identity, else default.
    const std::string& vendor() const { return vendor_; }
    const std::string& product() const { return product_; }
    const std::string& serial() const { return serial_; }
    std::uint16_t rotation_rate() const { return rotation_rate_; }
    std::uint32_t optimal_transfer_blocks() const { return optimal_transfer_blocks_; }
    // NAA designator of VPD page 83h (also how EXTENDED COPY finds its copy targets).
    std::uint64_t naa_id() const { return naa_; }
    // ALUA of a shared LUN (vstor/shared_lun.hpp, scsi/lun_alua.hpp); null: no TPGS, as before.
    LunAlua* alua() const { return alua_.get(); }

    // EXTENDED COPY results kept for RECEIVE COPY RESULTS, per I_T nexus and list identifier
    // (SPC-4 6.4.3: a list identifier is scoped to the nexus that sent it).
    struct CopyResult {
        std::uint8_t status;  // 01h completed without error, 02h with error
        std::uint16_t segments;
        std::uint64_t blocks;
    };
    std::mutex copy_mu;  // guards copy_results
    std::map<std::pair<std::string, std::uint8_t>, CopyResult> copy_results;
    // Backend error messages (IoCallback) in the log: 5 lines per 10 s, then a count.
    util::RateLimiter backend_error_log{std::chrono::seconds(10), 5};

private:
    Target* const target_;
    const std::uint16_t lun_;
    const std::shared_ptr<Backend> backend_;
    const LunOptions opts_;
    std::atomic<bool> admin_read_only_;
    const std::uint32_t block_size_;
    std::atomic<std::uint64_t> block_count_;
    mutable std::mutex prevent_mu_;  // guards preventers_
    std::vector<std::string> preventers_;
    mutable std::mutex mode_mu_;  // guards mode_
    ModeState mode_;
    static constexpr std::uint8_t kHotWce = 1, kHotSwp = 2, kHotDSense = 4;
    static std::uint8_t hot_bits(const ModeState& m);
    std::atomic<std::uint8_t> hot_mode_{0};  // mode_'s wce, swp and d_sense, stored under mode_mu_
    std::unique_ptr<Reservations> reservations_;
    std::unique_ptr<TaskSet> task_set_;
    std::mutex resize_hook_mu_;  // guards resize_hook_; held while it runs
    std::function<void(LogicalUnit&)> resize_hook_;
    std::unique_ptr<LunAlua> alua_;  // set in the constructor, before any command can arrive
    std::string vendor_, product_, serial_;
    std::uint16_t rotation_rate_ = 1;
    std::uint32_t optimal_transfer_blocks_ = 0;
    std::uint64_t naa_ = 0;
    void resolve_identity();
    static std::uint64_t naa_from(const std::string& name, std::optional<std::uint16_t> lun);
};

}  // namespace vstor::scsi
