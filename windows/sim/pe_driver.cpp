// The loaded vstor.sys as the emulator's DriverCode (see pe_driver.hpp).
#include "pe_driver.hpp"

#include <cstdio>

#include "pe_call.hpp"
#include "pe_exports.hpp"

namespace vstor::storport_sim {

namespace {

// The image the native thunks below call into (one PE driver at a time per process).
std::atomic<PeDriver*> g_pe{nullptr};

PeDriver& pe() { return *g_pe.load(); }

template <class T>
const void* target(T* fn) {
    return reinterpret_cast<const void*>(fn);
}

// Native thunks with the signatures storport_decl.h gives the callbacks, standing in for the
// image's routines in the VIRTUAL_HW_INITIALIZATION_DATA the emulator keeps. Windows return
// types narrower than a register are truncated: only AL is defined for a BOOLEAN, EAX for a ULONG.
ULONG find_adapter(PVOID ext, PVOID context, PVOID bus, PVOID lower, PCHAR arguments,
                   PPORT_CONFIGURATION_INFORMATION config, PBOOLEAN again) {
    return static_cast<ULONG>(pe().call("HwFindAdapter", target(pe().registered.HwFindAdapter), ext, context, bus,
                                        lower, arguments, config, again));
}
BOOLEAN initialize(PVOID ext) {
    return static_cast<BOOLEAN>(pe().call("HwInitialize", target(pe().registered.HwInitialize), ext) & 0xFF);
}
BOOLEAN start_io(PVOID ext, PSCSI_REQUEST_BLOCK srb) {
    return static_cast<BOOLEAN>(pe().call("HwStartIo", target(pe().registered.HwStartIo), ext, srb) & 0xFF);
}
BOOLEAN reset_bus(PVOID ext, ULONG path) {
    return static_cast<BOOLEAN>(pe().call("HwResetBus", target(pe().registered.HwResetBus), ext, path) & 0xFF);
}
SCSI_ADAPTER_CONTROL_STATUS adapter_control(PVOID ext, SCSI_ADAPTER_CONTROL_TYPE type, PVOID parameters) {
    const auto r = pe().call("HwAdapterControl", target(pe().registered.HwAdapterControl), ext, type, parameters);
    return static_cast<SCSI_ADAPTER_CONTROL_STATUS>(static_cast<std::int32_t>(r));
}
VOID free_adapter_resources(PVOID ext) {
    pe().call("HwFreeAdapterResources", target(pe().registered.HwFreeAdapterResources), ext);
}
VOID process_service_request(PVOID ext, PVOID irp) {
    pe().call("HwProcessServiceRequest", target(pe().registered.HwProcessServiceRequest), ext, irp);
}
VOID complete_service_irp(PVOID ext) {
    pe().call("HwCompleteServiceIrp", target(pe().registered.HwCompleteServiceIrp), ext);
}
VOID timer_thunk(PVOID ext) { pe().call("HwTimer", target(pe().timer.load()), ext); }

// StorPort's dispatch routine as the image calls it (a DRIVER_DISPATCH: NTAPI).
#if defined(__x86_64__)
__attribute__((ms_abi))
#else
__attribute__((stdcall, force_align_arg_pointer))
#endif
NTSTATUS port_dispatch(PDEVICE_OBJECT device, PIRP irp) {
    return current_emulator()->on_port_dispatch(device, irp);
}

}  // namespace

std::unique_ptr<PeDriver> PeDriver::load(const std::string& path, const std::string& symbols, std::string* why) {
    std::unique_ptr<PeDriver> d(new PeDriver);
    d->image_ = PeImage::load(path, pe_exports(), why);
    if (!d->image_) return nullptr;
    if (d->image_->symbol_count() == 0 && !symbols.empty()) d->image_->load_symbols(symbols);
    PeDriver* none = nullptr;
    if (!g_pe.compare_exchange_strong(none, d.get())) {
        *why = "another PE driver is loaded in this process";
        return nullptr;
    }
    return d;
}

PeDriver::~PeDriver() {
    PeDriver* self = this;
    g_pe.compare_exchange_strong(self, nullptr);
}

std::uintptr_t PeDriver::call_words(const char* role, const void* fn, const std::uintptr_t* words, std::size_t n) {
    if (!image_->contains(fn)) {
        if (auto* emu = current_emulator())
            emu->report(std::string(role) + ": " + image_->describe(fn) + " is not in vstor.sys; not called");
        return 0;
    }
    VsPeCallCheck check{};
    const std::uintptr_t r = vs_pe_call(fn, words, n, &check);
    if (check.stack_delta != 0 || check.regs_clobbered != 0) {
        faults_.fetch_add(1);
        std::string what = std::string("calling convention: ") + role + " = " + image_->describe(fn);
        if (check.stack_delta != 0)
            what += " returned with the stack pointer " + std::to_string(check.stack_delta) + " bytes off" +
                    (sizeof(void*) == 4 ? " (not __stdcall: the callee must pop its " + std::to_string(n * 4) +
                                              " bytes of arguments)"
                                        : "");
        if (check.regs_clobbered != 0) what += " did not preserve RSI/RDI (ESI/EDI), callee-saved on Windows";
        std::fprintf(stderr, "%s\n", what.c_str());
        if (auto* emu = current_emulator()) emu->report(what);
    }
    return r;
}

NTSTATUS PeDriver::driver_entry(PDRIVER_OBJECT driver, PUNICODE_STRING registry_path) {
    return static_cast<NTSTATUS>(call("DriverEntry", image_->entry_point(), driver, registry_path));
}

VIRTUAL_HW_INITIALIZATION_DATA PeDriver::callable(const VIRTUAL_HW_INITIALIZATION_DATA& d) {
    registered = d;
    VIRTUAL_HW_INITIALIZATION_DATA out = d;
    // Only the routines the driver registered get a thunk (the emulator checks which are missing).
    if (d.HwFindAdapter) out.HwFindAdapter = &find_adapter;
    if (d.HwInitialize) out.HwInitialize = &initialize;
    if (d.HwStartIo) out.HwStartIo = &start_io;
    if (d.HwResetBus) out.HwResetBus = &reset_bus;
    if (d.HwAdapterControl) out.HwAdapterControl = &adapter_control;
    if (d.HwFreeAdapterResources) out.HwFreeAdapterResources = &free_adapter_resources;
    if (d.HwProcessServiceRequest) out.HwProcessServiceRequest = &process_service_request;
    if (d.HwCompleteServiceIrp) out.HwCompleteServiceIrp = &complete_service_irp;
    return out;
}

// StorPort keeps one pending timer request per adapter, and so does the emulator: the thunk calls
// the routine of the latest request.
HW_TIMER* PeDriver::callable_timer(HW_TIMER* registered_timer) {
    timer.store(registered_timer);
    return &timer_thunk;
}

void PeDriver::call_cancel(PDRIVER_CANCEL routine, PDEVICE_OBJECT device, PIRP irp) {
    call("DRIVER_CANCEL", target(routine), device, irp);
}

NTSTATUS PeDriver::call_dispatch(const char* role, PDRIVER_DISPATCH routine, PDEVICE_OBJECT device, PIRP irp) {
    return static_cast<NTSTATUS>(call(role, target(routine), device, irp));
}

PDRIVER_DISPATCH PeDriver::port_dispatch_routine() { return reinterpret_cast<PDRIVER_DISPATCH>(&port_dispatch); }

}  // namespace vstor::storport_sim
