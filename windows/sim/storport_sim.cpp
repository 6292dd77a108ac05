// The user-mode StorPort emulator (see storport_sim.hpp) and the StorPort/kernel functions the
// driver imports, implemented over it.
#include "storport_sim.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstring>

#include "irql_model.hpp"
#include "kernel_exports.hpp"
#include "miniport.h"

namespace vstor::storport_sim {

namespace {
Emulator* g_emulator = nullptr;
constexpr std::size_t kGuard = 64;
constexpr std::uint8_t kGuardByte = 0xA5;
// What the emulated StorPort keeps in a service IRP's Tail.Overlay.DriverContext.
PVOID const kStorPortsContext = reinterpret_cast<PVOID>(static_cast<std::uintptr_t>(0x5354504F52540001ull));

class AtIrql {
public:
    AtIrql(KIRQL level, const char* routine) : old_(t_irql), level_(level), routine_(routine) { t_irql = level; }
    ~AtIrql() {
        if (t_irql != level_ && g_emulator)
            g_emulator->report(std::string(routine_) + " returned at another IRQL (a spin lock left held?)");
        t_irql = old_;
    }
    AtIrql(const AtIrql&) = delete;
    AtIrql& operator=(const AtIrql&) = delete;

private:
    KIRQL old_, level_;
    const char* routine_;
};
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

struct Emulator::ServiceIrp {
    IRP irp{};
    IO_STACK_LOCATION stack{};
    std::vector<std::uint8_t> system_buffer;
    int process = 0;
    bool done = false;
    std::condition_variable cv;
};

Emulator::Emulator(DriverCode& code, Options options) : options_(options), code_(code) {
    g_emulator = this;
    driver_.sim_owner = this;
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
    return STATUS_SUCCESS;
}

bool Emulator::start_adapter(std::string* why) {
    if (!initialized_) {
        *why = "StorPortInitialize was not called";
        return false;
    }
    extension_.assign(std::max<ULONG>(init_.DeviceExtensionSize, 16) + 64, 0xCD);  // not zeroed: HwFindAdapter must
    std::memset(extension_.data(), 0, init_.DeviceExtensionSize);  // StorPort zeroes the extension
    std::memset(&config_, 0, sizeof(config_));
    // Windows 7's structure ends at MaxNumberOfIO; the fields after it are Windows 8's.
    config_.Length = options_.windows_version >= 8 ? sizeof(config_)
                                                   : offsetof(PORT_CONFIGURATION_INFORMATION, MaxIOsPerLun);
    config_.AdapterInterfaceType = Internal;
    config_.DeviceExtensionSize = init_.DeviceExtensionSize;
    config_.SpecificLuExtensionSize = init_.SpecificLuExtensionSize;
    config_.SrbExtensionSize = init_.SrbExtensionSize;
    config_.MapBuffers = init_.MapBuffers;
    config_.TaggedQueuing = init_.TaggedQueuing;
    config_.AutoRequestSense = init_.AutoRequestSense;
    config_.MultipleRequestPerLu = init_.MultipleRequestPerLu;
    config_.MaximumNumberOfTargets = 128;
    config_.MaximumNumberOfLogicalUnits = 255;
    config_.NumberOfBuses = 1;
    BOOLEAN again = TRUE;
    // Virtual HwFindAdapter: HwContext = PDO, BusInformation = FDO, LowerDevice = next lower device.
    ULONG found = SP_RETURN_NOT_FOUND;
    {
        AtIrql irql(kPassive, "HwFindAdapter");
        found = init_.HwFindAdapter(extension_.data(), &pdo_, &fdo_, &pdo_, nullptr, &config_, &again);
    }
    if (found != SP_RETURN_FOUND) {
        *why = "HwFindAdapter returned " + std::to_string(found);
        return false;
    }
    if (!config_.VirtualDevice || config_.MaximumTransferLength == 0 || config_.NumberOfBuses == 0 ||
        config_.MaximumNumberOfTargets == 0 || config_.MaximumNumberOfLogicalUnits == 0 ||
        config_.AdapterInterfaceType != Internal) {
        *why = "HwFindAdapter left PORT_CONFIGURATION_INFORMATION unusable for a virtual adapter";
        return false;
    }
    if (![&] {
            AtIrql irql(kDispatch, "HwInitialize");
            return init_.HwInitialize(extension_.data());
        }()) {
        *why = "HwInitialize failed";
        return false;
    }
    // Windows 7's StorPort knows control types 0-4 (through ScsiSetRunningConfig); Windows 10's up
    // to ScsiAdapterSurpriseRemoval (16). A guard byte after the list catches a write beyond it.
    const ULONG max = options_.windows_version >= 8 ? ULONG{ScsiAdapterControlMax} : ULONG{ScsiSetRunningConfig + 1};
    std::vector<std::uint8_t> list(sizeof(ULONG) + max + 1, 0);
    std::memcpy(list.data(), &max, sizeof(max));
    list[sizeof(ULONG) + max] = 0xA5;
    {
        AtIrql irql(kPassive, "HwAdapterControl");  // ScsiQuerySupportedControlTypes: PASSIVE_LEVEL
        init_.HwAdapterControl(extension_.data(), ScsiQuerySupportedControlTypes, list.data());
    }
    if (list[sizeof(ULONG) + max] != 0xA5) violation("ScsiQuerySupportedControlTypes wrote beyond MaxControlType");
    supported_controls_.assign(ScsiAdapterControlMax, false);
    for (ULONG i = 0; i < max; ++i) supported_controls_[i] = list[sizeof(ULONG) + i] != 0;
    {
        std::lock_guard lk(mu_);
        started_ = true;
    }
    scan_bus();
    return true;
}

void Emulator::stop_adapter() {
    if (!started_) return;
    {
        std::unique_lock lk(mu_);
        adapter_stopping_ = true;
        cv_.notify_all();
        cv_.wait(lk, [&] { return in_start_io_ == 0; });
    }
    drain();
    if (supported_controls_[ScsiStopAdapter]) {
        AtIrql irql(kDirql, "HwAdapterControl(ScsiStopAdapter)");
        init_.HwAdapterControl(extension_.data(), ScsiStopAdapter, nullptr);
    }
    {
        std::lock_guard lk(mu_);
        if (!outstanding_.empty())
            violations_.push_back(std::to_string(outstanding_.size()) + " SRBs outstanding after ScsiStopAdapter");
    }
    {
        AtIrql irql(kPassive, "HwCompleteServiceIrp");  // documented: PASSIVE_LEVEL, no lock held
        init_.HwCompleteServiceIrp(extension_.data());
    }
    {
        // StorPort's remove lock: removal goes on only once every dispatch that entered before it
        // (an IOCTL on its way into HwProcessServiceRequest, a cancel routine) has returned. Only
        // an IRP still pending after that was really left parked by the miniport.
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return in_service_dispatch_ == 0; });
        for (auto& [irp, s] : service_irps_)
            if (!s->done) violations_.push_back("service IRP still pending after HwCompleteServiceIrp");
        timer_fn_ = nullptr;
    }
    {
        AtIrql irql(kPassive, "HwFreeAdapterResources");  // documented: PASSIVE_LEVEL
        init_.HwFreeAdapterResources(extension_.data());
    }
    std::lock_guard lk(mu_);
    started_ = false;
    adapter_stopping_ = false;
}

// StorPort completes every request before it stops the adapter (ScsiStopAdapter's documentation):
// it waits for them, and one that outlives its TimeOutValue makes it reset the bus (the watchdog,
// with Options::reset_on_timeout). Bounded, so a driver that hangs an SRB fails the test instead.
void Emulator::drain() {
    std::unique_lock lk(mu_);
    ULONG longest = 0;
    for (auto& [srb, r] : outstanding_) longest = std::max(longest, srb->TimeOutValue);
    cv_.wait_for(lk, std::chrono::seconds(longest + 5), [&] { return outstanding_.empty() && busy_.empty(); });
}

void Emulator::power_cycle() {
    {
        std::unique_lock lk(mu_);
        paused_ = true;
        cv_.wait(lk, [&] { return in_start_io_ == 0; });
    }
    drain();
    // Windows 8 and later send ScsiAdapterPower (<= DISPATCH_LEVEL) to a miniport that supports it,
    // and then neither ScsiStopAdapter nor SRB_FUNCTION_POWER; Windows 7 stops and restarts it at DIRQL.
    const bool adapter_power = options_.windows_version >= 8 && supported_controls_[ScsiAdapterPower];
    auto control = [&](SCSI_ADAPTER_CONTROL_TYPE type, KIRQL level, const char* name, PVOID parameters) {
        AtIrql irql(level, name);
        init_.HwAdapterControl(extension_.data(), type, parameters);
    };
    StorAdapterControlPower power{};
    power.Version = 1;
    power.Size = sizeof(power);
    if (adapter_power) {
        power.PowerState = 4;  // StorPowerDeviceD3
        control(ScsiAdapterPower, kDispatch, "HwAdapterControl(ScsiAdapterPower)", &power);
    } else {
        control(ScsiStopAdapter, kDirql, "HwAdapterControl(ScsiStopAdapter)", nullptr);
    }
    {
        std::lock_guard lk(mu_);
        if (!outstanding_.empty()) violations_.push_back("SRBs outstanding after the adapter was powered down");
        ++power_cycles_;
    }
    if (adapter_power) {
        power.PowerState = 1;  // StorPowerDeviceD0
        control(ScsiAdapterPower, kDispatch, "HwAdapterControl(ScsiAdapterPower)", &power);
    } else {
        if (!supported_controls_[ScsiRestartAdapter]) violation("ScsiRestartAdapter not supported");
        control(ScsiRestartAdapter, kDirql, "HwAdapterControl(ScsiRestartAdapter)", nullptr);
    }
    {
        std::lock_guard lk(mu_);
        paused_ = false;
    }
    cv_.notify_all();
}

void Emulator::system_power_hint() {
    // Sent on Modern Standby (AoAC) machines, and only to a miniport that says it takes them.
    if (options_.windows_version < 8 || !supported_controls_[ScsiAdapterSystemPowerHints]) return;
    std::uint8_t hints[32] = {};  // STOR_SYSTEM_POWER_HINTS: Version, Size, States, ResumeLatencyMSec
    AtIrql irql(kPassive, "HwAdapterControl(ScsiAdapterSystemPowerHints)");
    init_.HwAdapterControl(extension_.data(), ScsiAdapterSystemPowerHints, hints);
}

void Emulator::surprise_remove() {
    if (options_.windows_version >= 8 && supported_controls_[ScsiAdapterSurpriseRemoval]) {
        AtIrql irql(kPassive, "HwAdapterControl(ScsiAdapterSurpriseRemoval)");
        init_.HwAdapterControl(extension_.data(), ScsiAdapterSurpriseRemoval, nullptr);
    }
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

RequestPtr Emulator::start(std::uint8_t target, std::uint8_t lun, std::span<const std::uint8_t> cdb,
                           ULONG direction_flags, std::uint32_t length, const void* data_out, ULONG timeout_s,
                           std::function<void(Request&)> on_complete) {
    auto r = std::make_shared<Request>();
    r->requested_length = length;
    r->data.assign(length + kGuard, 0);
    std::fill(r->data.begin() + length, r->data.end(), kGuardByte);
    if (data_out && length) std::memcpy(r->data.data(), data_out, length);
    r->on_complete = std::move(on_complete);
    SCSI_REQUEST_BLOCK& s = r->srb;
    s.Length = sizeof(SCSI_REQUEST_BLOCK);
    s.Function = SRB_FUNCTION_EXECUTE_SCSI;
    s.PathId = 0;
    s.TargetId = target;
    s.Lun = lun;
    s.QueueAction = SRB_SIMPLE_TAG_REQUEST;
    s.CdbLength = static_cast<UCHAR>(std::min<std::size_t>(cdb.size(), sizeof(s.Cdb)));
    std::memcpy(s.Cdb, cdb.data(), s.CdbLength);
    s.SenseInfoBufferLength = static_cast<UCHAR>(r->sense.size());
    s.SenseInfoBuffer = r->sense.data();
    s.SrbFlags = direction_flags;
    s.DataTransferLength = length;
    s.DataBuffer = length ? r->data.data() : nullptr;
    s.TimeOutValue = timeout_s;
    s.OriginalRequest = r.get();
    {
        std::unique_lock lk(mu_);
        const auto key = std::make_pair(int{target}, int{lun});
        // StorPort holds requests beyond the queue depth, and all of them while powered down.
        cv_.wait(lk, [&] { return (per_lun_[key] < queue_depth() && !paused_) || adapter_stopping_; });
        if (adapter_stopping_ || !started_) {
            // The device is being removed: the port driver fails the request itself.
            s.SrbStatus = SRB_STATUS_NO_DEVICE;
            r->completed = true;
            return r;
        }
        ++per_lun_[key];
        per_lun_max_[key] = std::max(per_lun_max_[key], per_lun_[key]);
        r->issued = std::chrono::steady_clock::now();
        outstanding_[&r->srb] = r;
        ++in_start_io_;
    }
    {
        AtIrql irql(kDispatch, "HwStartIo");
        init_.HwStartIo(extension_.data(), &r->srb);  // no StorPort lock held (virtual miniport)
    }
    {
        std::lock_guard lk(mu_);
        --in_start_io_;
    }
    cv_.notify_all();
    return r;
}

// A BUSY SRB issued again, as StorPort does (Options::retry_busy). During removal the port driver
// fails it itself.
void Emulator::reissue(const RequestPtr& r) {
    SCSI_REQUEST_BLOCK& s = r->srb;
    {
        std::lock_guard lk(mu_);
        if (adapter_stopping_ || !started_) {
            s.SrbStatus = SRB_STATUS_NO_DEVICE;
            s.DataTransferLength = 0;
        } else {
            s.SrbStatus = SRB_STATUS_PENDING;
            s.ScsiStatus = 0;
            s.DataTransferLength = r->requested_length;
            ++per_lun_[{s.TargetId, s.Lun}];
            outstanding_[&s] = r;
            ++in_start_io_;
        }
    }
    if (s.SrbStatus == SRB_STATUS_NO_DEVICE) {
        if (r->on_complete) r->on_complete(*r);
        {
            std::lock_guard lk(mu_);
            r->completed = true;
        }
        cv_.notify_all();
        return;
    }
    {
        AtIrql irql(kDispatch, "HwStartIo");
        init_.HwStartIo(extension_.data(), &s);
    }
    {
        std::lock_guard lk(mu_);
        --in_start_io_;
    }
    cv_.notify_all();
}

RequestPtr Emulator::start_function(std::uint8_t function, std::uint8_t target, std::uint8_t lun,
                                    PSCSI_REQUEST_BLOCK next) {
    auto r = std::make_shared<Request>();
    r->data.assign(kGuard, kGuardByte);
    r->srb.Length = sizeof(SCSI_REQUEST_BLOCK);
    r->srb.Function = function;
    r->srb.TargetId = target;
    r->srb.Lun = lun;
    r->srb.NextSrb = next;
    r->srb.TimeOutValue = 30;
    {
        std::lock_guard lk(mu_);
        r->issued = std::chrono::steady_clock::now();
        outstanding_[&r->srb] = r;
        ++per_lun_[{target, lun}];
    }
    {
        AtIrql irql(kDispatch, "HwStartIo");
        init_.HwStartIo(extension_.data(), &r->srb);
    }
    return r;
}

RequestPtr Emulator::start_pnp(std::uint8_t target, std::uint8_t lun, STOR_PNP_ACTION action, bool adapter_request,
                               std::uint32_t length) {
    auto r = std::make_shared<Request>();
    r->requested_length = length;
    r->data.assign(length + kGuard, 0);
    std::fill(r->data.begin() + length, r->data.end(), kGuardByte);
    SCSI_PNP_REQUEST_BLOCK pnp{};
    pnp.Length = sizeof(SCSI_PNP_REQUEST_BLOCK);
    pnp.Function = SRB_FUNCTION_PNP;
    pnp.TargetId = target;
    pnp.Lun = lun;
    pnp.PnPAction = action;
    pnp.SrbFlags = length ? SRB_FLAGS_DATA_IN : 0;
    pnp.DataTransferLength = length;
    pnp.DataBuffer = length ? r->data.data() : nullptr;
    pnp.TimeOutValue = 30;
    pnp.SrbPnPFlags = adapter_request ? SRB_PNP_FLAGS_ADAPTER_REQUEST : 0;
    std::memcpy(&r->srb, &pnp, sizeof(pnp));
    {
        std::lock_guard lk(mu_);
        r->issued = std::chrono::steady_clock::now();
        outstanding_[&r->srb] = r;
        ++per_lun_[{target, lun}];
    }
    {
        AtIrql irql(kDispatch, "HwStartIo");
        init_.HwStartIo(extension_.data(), &r->srb);
    }
    return r;
}

bool Emulator::wait(const RequestPtr& r, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return r->completed.load(); });
}

RequestPtr Emulator::execute(std::uint8_t target, std::uint8_t lun, std::span<const std::uint8_t> cdb,
                             ULONG direction_flags, std::uint32_t length, const void* data_out) {
    auto r = start(target, lun, cdb, direction_flags, length, data_out);
    if (!wait(r, std::chrono::seconds(60))) violation("SRB not completed within 60 s");
    return r;
}

void Emulator::on_request_complete(PSCSI_REQUEST_BLOCK srb) {
    RequestPtr r;
    {
        std::lock_guard lk(mu_);
        auto it = outstanding_.find(srb);
        if (it == outstanding_.end()) {
            violations_.push_back("RequestComplete for an SRB that is not outstanding (completed twice?)");
            return;
        }
        r = it->second;
        outstanding_.erase(it);
        --per_lun_[{srb->TargetId, srb->Lun}];
        if (SRB_STATUS(srb->SrbStatus) == SRB_STATUS_PENDING)
            violations_.push_back("SRB completed with SRB_STATUS_PENDING");
        if (srb->DataTransferLength > r->requested_length)
            violations_.push_back("DataTransferLength grew on completion");
        r->completed_at = std::chrono::steady_clock::now();
        if (options_.retry_busy && SRB_STATUS(srb->SrbStatus) == SRB_STATUS_BUSY &&
            srb->Function == SRB_FUNCTION_EXECUTE_SCSI && r->busy_retries < kMaxBusyRetries) {
            // StorPort keeps a BUSY request and issues it again a little later (watchdog_loop);
            // the caller sees it complete only then.
            ++r->busy_retries;
            ++busy_retries_;
            r->retry_at = r->completed_at + std::chrono::milliseconds(50);
            busy_.push_back(r);
            return;
        }
    }
    if (r->on_complete) r->on_complete(*r);
    {
        std::lock_guard lk(mu_);
        r->completed = true;
    }
    cv_.notify_all();
}

void Emulator::reset_bus(std::uint8_t path_id) {
    {
        AtIrql irql(kDispatch, "HwResetBus");
        init_.HwResetBus(extension_.data(), path_id);
    }
    std::lock_guard lk(mu_);
    for (auto& [srb, r] : outstanding_)
        if (srb->PathId == path_id && srb->Function == SRB_FUNCTION_EXECUTE_SCSI)
            violations_.push_back("SRB still outstanding after HwResetBus returned");
}

std::size_t Emulator::outstanding() const {
    std::lock_guard lk(mu_);
    return outstanding_.size();
}

std::size_t Emulator::outstanding(std::uint8_t target, std::uint8_t lun) const {
    std::lock_guard lk(mu_);
    auto it = per_lun_.find({target, lun});
    return it == per_lun_.end() ? 0 : it->second;
}

std::size_t Emulator::max_outstanding_seen(std::uint8_t target, std::uint8_t lun) const {
    std::lock_guard lk(mu_);
    auto it = per_lun_max_.find({target, lun});
    return it == per_lun_max_.end() ? 0 : it->second;
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
            lk.unlock();
            reset_bus(0);
            lk.lock();
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

// ---- device interfaces ------------------------------------------------------------------------------

NTSTATUS Emulator::on_register_interface(PDEVICE_OBJECT pdo, const GUID* guid, PUNICODE_STRING link) {
    std::lock_guard lk(mu_);
    if (pdo != &pdo_) {
        violations_.push_back("IoRegisterDeviceInterface on a device that is not the adapter's PDO");
        return STATUS_INVALID_PARAMETER;
    }
    interfaces_.push_back(*guid);
    const std::string name = "\\??\\ROOT#SCSIADAPTER#0000#{vstor}";
    auto* buf = new std::uint16_t[name.size() + 1];
    for (std::size_t i = 0; i <= name.size(); ++i) buf[i] = i < name.size() ? static_cast<std::uint8_t>(name[i]) : 0;
    link->Buffer = buf;
    link->Length = static_cast<USHORT>(name.size() * 2);
    link->MaximumLength = static_cast<USHORT>(link->Length + 2);
    interface_link_.assign(buf, buf + name.size());
    return STATUS_SUCCESS;
}

NTSTATUS Emulator::on_interface_state(PUNICODE_STRING link, BOOLEAN enable) {
    std::lock_guard lk(mu_);
    if (link == nullptr || link->Buffer == nullptr ||
        std::vector<std::uint16_t>(link->Buffer, link->Buffer + link->Length / 2) != interface_link_) {
        violations_.push_back("IoSetDeviceInterfaceState on a link that was not registered");
        return STATUS_INVALID_PARAMETER;
    }
    interface_enabled_ = enable != 0;
    return STATUS_SUCCESS;
}

bool Emulator::interface_registered(const GUID& guid) const {
    std::lock_guard lk(mu_);
    return std::any_of(interfaces_.begin(), interfaces_.end(),
                       [&](const GUID& g) { return std::memcmp(&g, &guid, sizeof(GUID)) == 0; });
}

bool Emulator::interface_enabled() const {
    std::lock_guard lk(mu_);
    return interface_enabled_;
}

// ---- service IRPs ---------------------------------------------------------------------------------

IoctlResult Emulator::device_ioctl(int process, ULONG code, const void* in, ULONG in_len, void* out, ULONG out_len) {
    auto s = std::make_shared<ServiceIrp>();
    s->process = process;
    s->system_buffer.assign(std::max(in_len, out_len), 0);  // METHOD_BUFFERED: one system buffer
    if (in_len) std::memcpy(s->system_buffer.data(), in, in_len);
    s->irp.AssociatedIrp.SystemBuffer = s->system_buffer.empty() ? nullptr : s->system_buffer.data();
    s->stack.MajorFunction = IRP_MJ_DEVICE_CONTROL;
    s->stack.Parameters.DeviceIoControl.IoControlCode = code;
    s->stack.Parameters.DeviceIoControl.InputBufferLength = in_len;
    s->stack.Parameters.DeviceIoControl.OutputBufferLength = out_len;
    s->irp.Tail.Overlay.CurrentStackLocation = &s->stack;
    s->irp.IoStatus.Status = STATUS_PENDING;
    {
        std::lock_guard lk(mu_);
        if (std::find(dead_processes_.begin(), dead_processes_.end(), process) != dead_processes_.end())
            return {STATUS_CANCELLED, 0};  // a dead process issues nothing
        if (!started_) return {STATUS_DEVICE_NOT_CONNECTED, 0};
        service_irps_[&s->irp] = s;
        ++in_service_dispatch_;
    }
    // StorPort received the IRP (IRP_MJ_DEVICE_CONTROL on its FDO) and owns its DriverContext;
    // the miniport must leave it alone (checked when the IRP completes).
    for (auto& p : s->irp.Tail.Overlay.DriverContext) p = kStorPortsContext;
    {
        AtIrql irql(kPassive, "HwProcessServiceRequest");
        init_.HwProcessServiceRequest(extension_.data(), &s->irp);  // PASSIVE_LEVEL, caller's thread
    }
    {
        std::lock_guard lk(mu_);
        --in_service_dispatch_;
    }
    cv_.notify_all();
    IoctlResult res;
    {
        std::unique_lock lk(mu_);
        s->cv.wait(lk, [&] { return s->done; });
        service_irps_.erase(&s->irp);
        res.status = s->irp.IoStatus.Status;
        res.information = static_cast<ULONG>(s->irp.IoStatus.Information);
    }
    if (NT_SUCCESS(res.status)) {
        if (res.information > out_len) {
            violation("service IRP Information exceeds the output buffer");
            res.information = out_len;
        }
        std::memcpy(out, s->system_buffer.data(), res.information);  // the I/O manager's copy-out
    }
    return res;
}

void Emulator::on_complete_service_irp(PIRP irp) {
    std::shared_ptr<ServiceIrp> s;
    {
        std::lock_guard lk(mu_);
        auto it = service_irps_.find(irp);
        if (it == service_irps_.end() || it->second->done) {
            violations_.push_back("StorPortCompleteServiceIrp on an IRP that is not pending");
            return;
        }
        s = it->second;
        if (irp->IoStatus.Status == STATUS_PENDING) violations_.push_back("service IRP completed with STATUS_PENDING");
        for (PVOID p : irp->Tail.Overlay.DriverContext)
            if (p != kStorPortsContext) {
                violations_.push_back("the miniport wrote Tail.Overlay.DriverContext of a service IRP (StorPort's)");
                break;
            }
        s->done = true;
    }
    s->cv.notify_all();
}

void Emulator::cancel(ServiceIrp& s) {
    cancel_mu_.lock();  // IoAcquireCancelSpinLock
    s.irp.Cancel = TRUE;
    PDRIVER_CANCEL routine = IoSetCancelRoutine(&s.irp, nullptr);
    if (routine) {
        s.irp.CancelIrql = t_irql;
        t_irql = kDispatch;  // the cancel spin lock raises; IoReleaseCancelSpinLock restores CancelIrql
        const KIRQL before = s.irp.CancelIrql;
        code_.call_cancel(routine, &fdo_, &s.irp);  // releases the cancel lock (IoReleaseCancelSpinLock)
        if (t_irql != before) report("cancel routine returned at another IRQL");
        t_irql = before;
    } else {
        cancel_mu_.unlock();
    }
}

void Emulator::kill_process(int process) {
    std::vector<std::shared_ptr<ServiceIrp>> victims;
    {
        std::lock_guard lk(mu_);
        dead_processes_.push_back(process);
        for (auto& [irp, s] : service_irps_)
            if (s->process == process && !s->done) victims.push_back(s);
        in_service_dispatch_ += victims.size();
    }
    for (auto& s : victims) {
        cancel(*s);  // the I/O manager cancels a dying thread's IRPs
        std::lock_guard lk(mu_);
        --in_service_dispatch_;
    }
    cv_.notify_all();
}

ULONG Emulator::requestor_process(PIRP irp) {
    std::lock_guard lk(mu_);
    auto it = service_irps_.find(irp);
    if (it == service_irps_.end()) {
        violations_.push_back("IoGetRequestorProcessId on an IRP that is not pending");
        return 0;
    }
    return static_cast<ULONG>(it->second->process);
}

std::size_t Emulator::pending_service_irps() const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (auto& [irp, s] : service_irps_) n += !s->done;
    return n;
}

}  // namespace vstor::storport_sim

