// The emulated StorPort's PnP and power calls on the adapter (start, removal, power cycles, control
// types) and the device interface the driver registers on the PDO.
#include "storport_sim.hpp"

#include <algorithm>
#include <cstring>

#include "emulator_internal.hpp"

namespace vstor::storport_sim {

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
    // The SRBs a timeout's HwResetBus completes leave the list while it still runs (it may go on
    // to complete service IRPs it handed the reset notice). StorPort holds its lock across the
    // call, so a stop or power change never overlaps it: wait until it has returned.
    cv_.wait(lk, [&] { return in_timeout_reset_ == 0; });
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
}  // namespace vstor::storport_sim
