// A user-mode StorPort for Linux: runs the unmodified vstor.sys sources the way storport.sys
// drives a virtual miniport, and checks the rules StorPort relies on.
//
// What it does (WINDOWS-NOTES "order of calls"): DriverEntry -> StorPortInitialize (validates the
// VIRTUAL_HW_INITIALIZATION_DATA) -> start: HwFindAdapter (virtual, 7 arguments) -> HwInitialize
// -> HwAdapterControl(ScsiQuerySupportedControlTypes) -> bus scan (INQUIRY, REPORT LUNS) -> SRBs
// through HwStartIo from any thread, at most 250 outstanding per LUN -> RequestComplete ->
// BusChangeDetected rescans (on its own "PnP" thread) -> HwResetBus -> stop: ScsiStopAdapter ->
// HwCompleteServiceIrp -> HwFreeAdapterResources. RequestTimerCall runs on a timer thread. The
// service's DeviceIoControl becomes an IRP_MJ_DEVICE_CONTROL IRP sent, as the I/O manager sends it,
// to the routine in the miniport's DRIVER_OBJECT (StorPort's, which hands its service IOCTL to
// HwProcessServiceRequest, or the one the driver chained in front of it); METHOD_*_DIRECT codes get
// an MDL over the caller's own buffer and no system buffer for the output. The caller's thread
// waits for the IRP's completion; killing a "process" cancels its IRPs.
//
// Rules checked (violations()): every SRB completes exactly once and never with SRB_STATUS_PENDING;
// no RequestComplete for an SRB that is not outstanding; none outstanding on a path after HwResetBus
// returns, or at all after ScsiStopAdapter; no SRB outlives its TimeOutValue; every service IRP is
// completed exactly once, and none is left after HwCompleteServiceIrp.
//
// IRQL is modelled per thread: each routine is called at StorPort's level (DISPATCH_LEVEL where the
// documentation leaves it open), spin locks raise to DISPATCH_LEVEL, PASSIVE_LEVEL-only kernel
// routines check it, and a routine must return at the level it was called at.
// Not emulated: DPCs and interrupts (callbacks run on ordinary threads), physical addresses (an
// MDL's system mapping is the caller's own address), the IRP stack, power IRPs, WMI, disk.sys/classpnp retry policy (a completed SRB is reported to
// the caller as is, including SRB_STATUS_BUSY).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "storport_decl.h"

namespace vstor::storport_sim {

struct Request {
    SCSI_REQUEST_BLOCK srb{};
    std::vector<std::uint8_t> data;           // DataTransferLength bytes, then guard bytes
    std::array<std::uint8_t, 255> sense{};
    std::uint32_t requested_length = 0;
    std::chrono::steady_clock::time_point issued{};
    std::chrono::steady_clock::time_point completed_at{};
    std::atomic<bool> completed{false};
    unsigned busy_retries = 0;                       // times StorPort re-issued it after SRB_STATUS_BUSY
    std::chrono::steady_clock::time_point retry_at{};
    std::function<void(Request&)> on_complete;  // runs inside RequestComplete: must not call the driver

    std::uint8_t status() const { return SRB_STATUS(srb.SrbStatus); }
    std::span<std::uint8_t> bytes() { return {data.data(), requested_length}; }
    bool guard_intact() const;  // the bytes after the buffer were not written
};
using RequestPtr = std::shared_ptr<Request>;

struct LogicalUnit {
    std::uint8_t target = 0;
    std::uint8_t lun = 0;
    std::vector<std::uint8_t> inquiry;
};

struct IoctlResult {
    NTSTATUS status = STATUS_SUCCESS;
    ULONG information = 0;
};

// The driver under test as the emulator calls it: the natively compiled sources (native_driver.cpp)
// or a cross-built vstor.sys loaded from its PE file (pe_driver.hpp), whose routines need the
// Windows calling convention.
class DriverCode {
public:
    virtual ~DriverCode() = default;
    virtual const char* name() const = 0;  // "native", "pe-x64", "pe-x86"
    virtual NTSTATUS driver_entry(PDRIVER_OBJECT driver, PUNICODE_STRING registry_path) = 0;
    // The routines StorPortInitialize (or RequestTimerCall) received, made callable from here.
    virtual VIRTUAL_HW_INITIALIZATION_DATA callable(const VIRTUAL_HW_INITIALIZATION_DATA& registered) = 0;
    virtual HW_TIMER* callable_timer(HW_TIMER* registered) = 0;
    virtual void call_cancel(PDRIVER_CANCEL routine, PDEVICE_OBJECT device, PIRP irp) = 0;
    // A dispatch routine the driver put in its DRIVER_OBJECT (`role` names the major function).
    virtual NTSTATUS call_dispatch(const char* role, PDRIVER_DISPATCH routine, PDEVICE_OBJECT device, PIRP irp) = 0;
    // StorPort's own dispatch routine (IRP_MJ_DEVICE_CONTROL, IRP_MJ_CLEANUP, IRP_MJ_CLOSE), as the
    // driver calls it (the Windows convention for an image), forwarding to Emulator::on_port_dispatch.
    virtual PDRIVER_DISPATCH port_dispatch_routine() = 0;
};
DriverCode& native_driver();  // only in builds that link the driver's sources


// STOR_ADAPTER_CONTROL_POWER's leading fields (ScsiAdapterPower's parameter); the miniport
// under test ignores the rest.
struct StorAdapterControlPower {
    ULONG Version;
    ULONG Size;
    ULONG PowerState;  // STOR_DEVICE_POWER_STATE: 1 = D0, 4 = D3
    ULONG PowerAction;
};

struct EmulatorOptions {
    // The StorPort to behave like. 7: PORT_CONFIGURATION_INFORMATION ends at MaxNumberOfIO,
    // control types 0-4 only, power transitions by ScsiStopAdapter/ScsiRestartAdapter at DIRQL.
    // 10: control types up to ScsiAdapterSurpriseRemoval (16), ScsiAdapterPower for power
    // transitions when the miniport supports it.
    unsigned windows_version = 10;
    // An SRB that outlives its TimeOutValue makes the emulator reset the bus (HwResetBus), as
    // StorPort does; otherwise it is reported as a violation.
    bool reset_on_timeout = false;
    // SRB_STATUS_BUSY makes the emulator re-issue the SRB after a pause (up to kMaxBusyRetries
    // times), as StorPort does, instead of completing it to the caller.
    bool retry_busy = true;
};

class Emulator {
public:
    using Options = EmulatorOptions;
    explicit Emulator(DriverCode& code, Options options = {});
    ~Emulator();
    Emulator(const Emulator&) = delete;
    Emulator& operator=(const Emulator&) = delete;

    // ---- PnP -------------------------------------------------------------------------------
    NTSTATUS load_driver();                    // DriverEntry
    bool start_adapter(std::string* why);      // AddDevice + IRP_MN_START_DEVICE
    void stop_adapter();                       // IRP_MN_REMOVE_DEVICE with whatever is outstanding
    void power_cycle();                        // D3 and back (ScsiAdapterPower, or Stop/Restart at DIRQL)
    void system_power_hint();                  // ScsiAdapterSystemPowerHints, if supported (Windows 8+)
    void surprise_remove();                    // ScsiAdapterSurpriseRemoval, if supported; then stop_adapter()
    // StorPortGetSystemAddress fails while set (no system PTEs to map an SRB's buffer).
    void fail_system_address(bool on) { fail_system_address_ = on; }
    bool system_address_fails() const { return fail_system_address_.load(); }
    unsigned power_cycles() const { std::lock_guard lk(mu_); return power_cycles_; }
    unsigned busy_retries() const { std::lock_guard lk(mu_); return busy_retries_; }  // re-issues after BUSY
    static constexpr unsigned kMaxBusyRetries = 20;  // 50 ms apart (StorPort's own count is not documented)
    unsigned timeouts() const { std::lock_guard lk(mu_); return timeouts_; }  // SRBs that timed out (reset_on_timeout)
    std::vector<LogicalUnit> scan_bus();       // what the port driver's bus enumeration finds
    std::vector<LogicalUnit> devices() const;  // result of the latest scan (initial or rescan)
    unsigned rescans() const { return rescans_.load(); }
    unsigned bus_changes() const { return bus_changes_.load(); }
    bool wait_for_rescan(unsigned count, std::chrono::milliseconds timeout);

    // ---- I/O (the storage stack's side) -----------------------------------------------------
    // Builds an SRB and calls HwStartIo on this thread. Blocks while the LUN already has
    // queue_depth() SRBs outstanding, as StorPort holds requests beyond the queue depth.
    RequestPtr start(std::uint8_t target, std::uint8_t lun, std::span<const std::uint8_t> cdb,
                     ULONG direction_flags, std::uint32_t length, const void* data_out = nullptr,
                     ULONG timeout_s = 60, std::function<void(Request&)> on_complete = {});
    // SRB_FUNCTION_PNP for a LUN (or the adapter), as StorPort sends it; StorQueryCapabilities
    // carries a STOR_DEVICE_CAPABILITIES buffer (`length` bytes).
    RequestPtr start_pnp(std::uint8_t target, std::uint8_t lun, STOR_PNP_ACTION action, bool adapter_request,
                         std::uint32_t length = 0);
    RequestPtr start_function(std::uint8_t function, std::uint8_t target, std::uint8_t lun,
                              PSCSI_REQUEST_BLOCK next = nullptr);
    bool wait(const RequestPtr& r, std::chrono::milliseconds timeout = std::chrono::seconds(30));
    RequestPtr execute(std::uint8_t target, std::uint8_t lun, std::span<const std::uint8_t> cdb,
                       ULONG direction_flags, std::uint32_t length, const void* data_out = nullptr);
    void reset_bus(std::uint8_t path_id);  // what StorPort does when an SRB times out
    std::size_t outstanding() const;
    std::size_t outstanding(std::uint8_t target, std::uint8_t lun) const;
    std::size_t max_outstanding_seen(std::uint8_t target, std::uint8_t lun) const;
    static constexpr std::size_t queue_depth() { return 250; }

    // ---- The service's side: DeviceIoControl on the adapter ----------------------------------
    IoctlResult device_ioctl(int process, ULONG code, const void* in, ULONG in_len, void* out, ULONG out_len);
    IoctlResult device_ioctl(int process, ULONG code, void* buffer, ULONG in_len, ULONG out_len) {
        return device_ioctl(process, code, buffer, in_len, buffer, out_len);
    }
    void kill_process(int process);  // the process dies: its pending IRPs are cancelled
    // The process closes its handle to the adapter (IRP_MJ_CLEANUP, then IRP_MJ_CLOSE once no IRP of
    // it is pending; its threads live on). Its next DeviceIoControl opens a new handle. Reports
    // service IRPs left pending on the closed handle. `while_cleaning` runs inside StorPort's cleanup
    // routine (after the driver's own ran): a DeviceIoControl of `process` issued there travels on the
    // closing handle, as an IOCTL in flight when the handle was closed does.
    void close_handle(int process, std::function<void()> while_cleaning = {});
    unsigned port_cleanups() const { std::lock_guard lk(mu_); return port_cleanups_; }
    unsigned port_closes() const { std::lock_guard lk(mu_); return port_closes_; }
    std::size_t pending_service_irps() const;
    // Bytes the emulated I/O manager copied between callers' buffers and system buffers (the
    // METHOD_BUFFERED copies, and the input of a direct-I/O IOCTL), and MDLs mapped into system space.
    std::uint64_t io_manager_bytes() const { return io_manager_bytes_.load(); }
    unsigned mdl_maps() const { return mdl_maps_.load(); }

    // ---- Observation -----------------------------------------------------------------------
    std::vector<std::string> violations() const;
    void* device_extension() { return extension_.data(); }
    const PORT_CONFIGURATION_INFORMATION& config() const { return config_; }
    const std::vector<bool>& supported_controls() const { return supported_controls_; }
    const VIRTUAL_HW_INITIALIZATION_DATA& init_data() const { return init_; }
    // The device interface the driver registered on the PDO, and whether it is enabled.
    bool interface_registered(const GUID& guid) const;
    bool interface_enabled() const;

    // ---- Called by the StorPort/kernel API the driver imports ---------------------------------
    ULONG on_initialize(const VIRTUAL_HW_INITIALIZATION_DATA* data);
    void on_request_complete(PSCSI_REQUEST_BLOCK srb);
    void on_timer_request(HW_TIMER* timer, ULONG microseconds);
    void on_bus_change();
    void on_complete_service_irp(PIRP irp);
    void on_complete_irp(PIRP irp);                              // IoCompleteRequest
    PVOID on_map_mdl(PMDL mdl, KPROCESSOR_MODE mode);            // MmMapLockedPagesSpecifyCache
    NTSTATUS on_port_dispatch(PDEVICE_OBJECT device, PIRP irp);  // StorPort's dispatch routine
    void release_cancel_lock() { cancel_mu_.unlock(); }
    ULONG requestor_process(PIRP irp);  // IoGetRequestorProcessId
    void report(std::string what) { violation(std::move(what)); }
    NTSTATUS on_register_interface(PDEVICE_OBJECT pdo, const GUID* guid, PUNICODE_STRING link);
    NTSTATUS on_interface_state(PUNICODE_STRING link, BOOLEAN enable);

private:
    struct ServiceIrp;
    void violation(std::string what);
    void timer_loop();
    void pnp_loop();
    void watchdog_loop();
    void cancel(ServiceIrp& s);
    NTSTATUS port_device_control(PIRP irp);
    NTSTATUS port_cleanup(PIRP irp);
    NTSTATUS send_irp(const char* role, PIRP irp);  // through the DRIVER_OBJECT's table, at PASSIVE_LEVEL
    void check_dispatch_result(ServiceIrp& s, NTSTATUS returned);  // mu_ held
    std::shared_ptr<ServiceIrp> finish_pending(PIRP irp, const char* what);  // mu_ held
    void send_close(PVOID file);
    void drain();
    void reissue(const RequestPtr& r);
    RequestPtr start_io(const RequestPtr& r, std::uint8_t target, std::uint8_t lun);
    std::vector<RequestPtr> busy_;  // completed BUSY, waiting to be re-issued
    unsigned busy_retries_ = 0;

    const Options options_;
    unsigned power_cycles_ = 0, timeouts_ = 0;
    std::atomic<bool> fail_system_address_{false};

    DriverCode& code_;
    VIRTUAL_HW_INITIALIZATION_DATA init_{};
    bool initialized_ = false;
    bool started_ = false;
    std::vector<std::uint8_t> extension_;
    PORT_CONFIGURATION_INFORMATION config_{};
    std::vector<bool> supported_controls_;
    DRIVER_OBJECT driver_{};
    DEVICE_OBJECT fdo_{}, pdo_{};

    mutable std::mutex mu_;  // everything below; never held while calling into the driver
    std::condition_variable cv_;
    std::unordered_map<PSCSI_REQUEST_BLOCK, RequestPtr> outstanding_;
    std::map<std::pair<int, int>, std::size_t> per_lun_, per_lun_max_;
    std::vector<std::string> violations_;
    std::vector<LogicalUnit> devices_;
    std::unordered_map<PIRP, std::shared_ptr<ServiceIrp>> service_irps_;
    std::vector<int> dead_processes_;
    // Each process's open handle: the file object its IRPs carry (opened on first use).
    std::map<int, std::shared_ptr<int>> handles_;
    PVOID file_object(int process);  // mu_ held
    unsigned port_cleanups_ = 0, port_closes_ = 0;
    std::function<void()> while_cleaning_;  // close_handle's hook, run by StorPort's cleanup routine
    std::atomic<std::uint64_t> io_manager_bytes_{0};
    std::atomic<unsigned> mdl_maps_{0};
    bool stopping_ = false;
    bool adapter_stopping_ = false;  // remove in progress: the port driver issues no new SRBs
    bool paused_ = false;            // powered down: new SRBs wait
    unsigned in_start_io_ = 0;       // threads between registering an SRB and HwStartIo returning
    unsigned in_timeout_reset_ = 0;  // the watchdog's HwResetBus calls not yet returned
    // IOCTLs between registering their IRP and HwProcessServiceRequest returning, and cancel
    // routines running: what StorPort's remove lock waits for before the adapter goes away.
    std::size_t in_service_dispatch_ = 0;

    std::vector<GUID> interfaces_;
    std::vector<std::uint16_t> interface_link_;  // the symbolic link name handed out
    bool interface_enabled_ = false;

    std::mutex cancel_mu_;  // the I/O manager's cancel spin lock

    // timer (RequestTimerCall): one pending call at a time, a new request replaces it
    HW_TIMER* timer_fn_ = nullptr;
    std::chrono::steady_clock::time_point timer_due_{};
    std::atomic<unsigned> bus_changes_{0}, rescans_{0};
    unsigned pending_bus_changes_ = 0;
    std::thread timer_thread_, pnp_thread_, watchdog_thread_;
};

// The emulator the kernel exports (kernel_exports.cpp) act on: the one constructed last.
Emulator* current_emulator();

}  // namespace vstor::storport_sim
