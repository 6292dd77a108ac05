// The user-mode StorPort emulator (see storport_sim.hpp): construction, the rule log, StorPort's
// registration checks, bus enumeration and the timer, PnP and watchdog threads. The adapter's
// PnP/power calls are in emulator_adapter.cpp, the SRB path in emulator_srbs.cpp, the service
// IRPs in emulator_service_irps.cpp, the routines the driver imports in kernel_exports.cpp.
#include "storport_sim.hpp"

#include <algorithm>
#include <cstring>

#include "emulator_internal.hpp"
#include "miniport.h"

namespace vstor::storport_sim {

namespace {
Emulator* g_emulator = nullptr;
}  // namespace

Emulator* current_emulator() { return g_emulator; }

void require_passive(const char* routine) {
    if (t_irql != kPassive && g_emulator) g_emulator->report(std::string(routine) + " called above PASSIVE_LEVEL");
}

void require_at_most_dispatch(const char* routine) {
    if (t_irql > kDispatch && g_emulator) g_emulator->report(std::string(routine) + " called above DISPATCH_LEVEL");
}

bool Request::guard_intact() const {
    return std::all_of(data.begin() + requested_length, data.end(), [](std::uint8_t b) { return b == kGuardByte; });
}

Emulator::Emulator(DriverCode& code, Options options) : options_(options), code_(code) {
    g_emulator = this;
    fdo_.sim_owner = this;
    pdo_.sim_owner = this;
    timer_thread_ = std::thread([this] { timer_loop(); });
    pnp_thread_ = std::thread([this] { pnp_loop(); });
    watchdog_thread_ = std::thread([this] { watchdog_loop(); });
}

Emulator::~Emulator() {
    // A test that ended early (a failed ASSERT) still removes the adapter, so the driver forgets
    // this device extension before its memory goes.
    if (started_) stop_adapter();
    {
        std::lock_guard lk(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    timer_thread_.join();
    pnp_thread_.join();
    watchdog_thread_.join();
    g_emulator = nullptr;
}

void Emulator::violation(std::string what) {
    std::lock_guard lk(mu_);
    violations_.push_back(std::move(what));
}

std::vector<std::string> Emulator::violations() const {
    std::lock_guard lk(mu_);
    return violations_;
}

NTSTATUS Emulator::load_driver() {
    UNICODE_STRING path{};
    return code_.driver_entry(&driver_, &path);
}

ULONG Emulator::on_initialize(const VIRTUAL_HW_INITIALIZATION_DATA* d) {
    // StorPort's checks on a virtual miniport's registration.
    if (d->HwInitializationDataSize != sizeof(VIRTUAL_HW_INITIALIZATION_DATA)) return STATUS_REVISION_MISMATCH;
    if (d->AdapterInterfaceType != Internal) return STATUS_INVALID_PARAMETER;
    if (!d->HwFindAdapter || !d->HwInitialize || !d->HwStartIo || !d->HwResetBus || !d->HwAdapterControl ||
        !d->HwFreeAdapterResources)
        return STATUS_INVALID_PARAMETER;
    if (d->HwProcessServiceRequest && !d->HwCompleteServiceIrp) return STATUS_INVALID_PARAMETER;
    if (d->HwInterrupt || d->HwDmaStarted || d->HwAdapterState || d->NumberOfAccessRanges) return STATUS_INVALID_PARAMETER;
    init_ = code_.callable(*d);
    initialized_ = true;
    // StorPort's dispatch routines go into the miniport's DRIVER_OBJECT; the emulator models the
    // ones the driver chains.
    for (UCHAR major : {IRP_MJ_DEVICE_CONTROL, IRP_MJ_CLEANUP, IRP_MJ_CLOSE})
        driver_.MajorFunction[major] = code_.port_dispatch_routine();
    return STATUS_SUCCESS;
}

std::vector<LogicalUnit> Emulator::scan_bus() {
    std::vector<LogicalUnit> found;
    const std::uint8_t inquiry[6] = {0x12, 0, 0, 0, 96, 0};
    auto probe = [&](std::uint8_t t, std::uint8_t l) -> bool {
        auto r = execute(t, l, inquiry, SRB_FLAGS_DATA_IN, 96);
        const auto st = r->status();
        if ((st == SRB_STATUS_SUCCESS || st == SRB_STATUS_DATA_OVERRUN) && r->srb.DataTransferLength >= 5 &&
            (r->data[0] >> 5) == 0) {
            found.push_back({t, l, std::vector<std::uint8_t>(r->data.begin(), r->data.begin() + r->srb.DataTransferLength)});
            return true;
        }
        return false;
    };
    for (std::uint8_t t = 0; t < config_.MaximumNumberOfTargets; ++t) {
        const bool lun0 = probe(t, 0);
        std::vector<std::uint8_t> luns;
        if (lun0) {
            const std::uint8_t report_luns[12] = {0xA0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x00, 0, 0};  // 1 KiB
            auto r = execute(t, 0, report_luns, SRB_FLAGS_DATA_IN, 1024);
            if (r->status() == SRB_STATUS_SUCCESS || r->status() == SRB_STATUS_DATA_OVERRUN) {
                const std::uint32_t len = (std::uint32_t{r->data[0]} << 24) | (r->data[1] << 16) | (r->data[2] << 8) | r->data[3];
                for (std::uint32_t off = 8; off + 8 <= 8 + len && off + 8 <= r->srb.DataTransferLength; off += 8)
                    if ((r->data[off] >> 6) == 0 && r->data[off + 1] != 0 && r->data[off + 1] < config_.MaximumNumberOfLogicalUnits)
                        luns.push_back(r->data[off + 1]);
            }
        } else {
            for (std::uint8_t l = 1; l < config_.MaximumNumberOfLogicalUnits; ++l) luns.push_back(l);  // sequential scan
        }
        for (auto l : luns) probe(t, l);
    }
    std::lock_guard lk(mu_);
    devices_ = found;
    return found;
}

std::vector<LogicalUnit> Emulator::devices() const {
    std::lock_guard lk(mu_);
    return devices_;
}

bool Emulator::wait_for_rescan(unsigned count, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return rescans_.load() >= count && pending_bus_changes_ == 0; });
}

void Emulator::on_timer_request(HW_TIMER* timer, ULONG microseconds) {
    {
        std::lock_guard lk(mu_);
        timer_fn_ = microseconds && timer ? code_.callable_timer(timer) : nullptr;
        timer_due_ = std::chrono::steady_clock::now() + std::chrono::microseconds(microseconds);
    }
    cv_.notify_all();
}

void Emulator::timer_loop() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
        if (!timer_fn_) {
            cv_.wait(lk);
            continue;
        }
        if (std::chrono::steady_clock::now() < timer_due_) {
            cv_.wait_until(lk, timer_due_);
            continue;
        }
        HW_TIMER* fn = timer_fn_;
        timer_fn_ = nullptr;  // one-shot: the miniport re-arms
        lk.unlock();
        {
            AtIrql irql(kDispatch, "HwTimer");
            fn(extension_.data());
        }
        lk.lock();
    }
}

void Emulator::on_bus_change() {
    bus_changes_.fetch_add(1);
    {
        std::lock_guard lk(mu_);
        ++pending_bus_changes_;
    }
    cv_.notify_all();
}

void Emulator::pnp_loop() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
        if (pending_bus_changes_ == 0 || !started_) {
            cv_.wait_for(lk, std::chrono::milliseconds(50));
            continue;
        }
        pending_bus_changes_ = 0;
        lk.unlock();
        scan_bus();  // IOCTL_SCSI_RESCAN_BUS / QueryDeviceRelations
        lk.lock();
        rescans_.fetch_add(1);
        cv_.notify_all();
    }
}

void Emulator::watchdog_loop() {
    std::unique_lock lk(mu_);
    while (!stopping_) {
        cv_.wait_for(lk, std::chrono::milliseconds(busy_.empty() ? 100 : 10));
        const auto now = std::chrono::steady_clock::now();
        bool timed_out = false;
        for (auto& [srb, r] : outstanding_) {
            if (srb->TimeOutValue && now - r->issued > std::chrono::seconds(srb->TimeOutValue) && !r->completed) {
                if (options_.reset_on_timeout) {
                    timed_out = true;
                } else {
                    violations_.push_back("SRB exceeded its TimeOutValue (StorPort would reset the bus)");
                }
                r->issued = now + std::chrono::hours(1);  // once
            }
        }
        if (timed_out) {
            // What StorPort does with a request that timed out: reset the bus it is on.
            ++timeouts_;
            ++in_timeout_reset_;  // counted under the lock, before the SRBs can complete (drain)
            lk.unlock();
            reset_bus(0);
            lk.lock();
            --in_timeout_reset_;
            cv_.notify_all();
        }
        std::vector<RequestPtr> due;
        for (auto it = busy_.begin(); it != busy_.end();) {
            if ((*it)->retry_at <= now) {
                due.push_back(*it);
                it = busy_.erase(it);
            } else {
                ++it;
            }
        }
        if (!due.empty()) {
            lk.unlock();
            for (auto& r : due) reissue(r);
            lk.lock();
        }
    }
}

}  // namespace vstor::storport_sim
