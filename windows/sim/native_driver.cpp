// The driver's sources compiled into the emulator's own process: called directly.
#include "storport_sim.hpp"

extern "C" NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath);

namespace vstor::storport_sim {

namespace {
NTSTATUS port_dispatch(PDEVICE_OBJECT device, PIRP irp) { return current_emulator()->on_port_dispatch(device, irp); }

class NativeDriver final : public DriverCode {
public:
    const char* name() const override { return "native"; }
    NTSTATUS driver_entry(PDRIVER_OBJECT driver, PUNICODE_STRING path) override { return DriverEntry(driver, path); }
    VIRTUAL_HW_INITIALIZATION_DATA callable(const VIRTUAL_HW_INITIALIZATION_DATA& d) override { return d; }
    HW_TIMER* callable_timer(HW_TIMER* t) override { return t; }
    void call_cancel(PDRIVER_CANCEL routine, PDEVICE_OBJECT device, PIRP irp) override { routine(device, irp); }
    NTSTATUS call_dispatch(const char*, PDRIVER_DISPATCH routine, PDEVICE_OBJECT device, PIRP irp) override {
        return routine(device, irp);
    }
    PDRIVER_DISPATCH port_dispatch_routine() override { return &port_dispatch; }
};
}  // namespace

DriverCode& native_driver() {
    static NativeDriver driver;
    return driver;
}

}  // namespace vstor::storport_sim
