// DriverEntry: register vstor.sys with StorPort as a virtual miniport. Nothing else happens until
// PnP starts the root-enumerated devnode (devcon install vstor.inf root\vstor); StorPort then calls
// VsHwFindAdapter and VsHwInitialize (adapter.cpp).
#include "miniport.h"

extern "C" NTSTATUS VS_API DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath) {
    VIRTUAL_HW_INITIALIZATION_DATA init;
    RtlZeroMemory(&init, sizeof(init));
    init.HwInitializationDataSize = sizeof(VIRTUAL_HW_INITIALIZATION_DATA);
    init.AdapterInterfaceType = Internal;  // StorPort supports no legacy bus for virtual adapters
    init.HwInitialize = VsHwInitialize;
    init.HwStartIo = VsHwStartIo;
    init.HwFindAdapter = VsHwFindAdapter;
    init.HwResetBus = VsHwResetBus;
    init.HwAdapterControl = VsHwAdapterControl;
    init.HwFreeAdapterResources = VsHwFreeAdapterResources;
    init.HwProcessServiceRequest = VsHwProcessServiceRequest;
    init.HwCompleteServiceIrp = VsHwCompleteServiceIrp;
    init.DeviceExtensionSize = sizeof(vs::Adapter);
    init.SpecificLuExtensionSize = 0;  // per-LUN state lives in the adapter (lun_present)
    init.SrbExtensionSize = 0;         // per-SRB state lives in the slot table
    init.MapBuffers = STOR_MAP_ALL_BUFFERS;
    init.TaggedQueuing = TRUE;
    init.AutoRequestSense = TRUE;
    init.MultipleRequestPerLu = TRUE;
    const auto status = static_cast<NTSTATUS>(StorPortInitialize(DriverObject, RegistryPath, &init, nullptr));
    // The service's channel IOCTL and its handle closing must reach the driver: handle_routines.cpp.
    if (NT_SUCCESS(status)) vs::chain_dispatch_routines(DriverObject);
    return status;
}
