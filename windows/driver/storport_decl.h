// The project's own StorPort declarations for a virtual miniport, written from Microsoft's
// published storport.h/srb.h documentation (Debian's mingw ddk/storport.h lacks the virtual
// miniport structures, the virtual HwFindAdapter signature and the service-IRP functions).
// Only what vstor.sys uses is declared. Layouts are asserted against the documented x64 offsets.
#pragma once

#include "vs_kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- SRB (srb.h) -------------------------------------------------------------------------------
typedef struct _SCSI_REQUEST_BLOCK {
    USHORT Length;
    UCHAR Function;
    UCHAR SrbStatus;
    UCHAR ScsiStatus;
    UCHAR PathId;
    UCHAR TargetId;
    UCHAR Lun;
    UCHAR QueueTag;
    UCHAR QueueAction;
    UCHAR CdbLength;
    UCHAR SenseInfoBufferLength;
    ULONG SrbFlags;
    ULONG DataTransferLength;
    ULONG TimeOutValue;
    PVOID DataBuffer;
    PVOID SenseInfoBuffer;
    struct _SCSI_REQUEST_BLOCK* NextSrb;
    PVOID OriginalRequest;
    PVOID SrbExtension;
    union {
        ULONG InternalStatus;
        ULONG QueueSortKey;
        ULONG LinkTimeoutValue;
    };
#if defined(_WIN64) || defined(__LP64__)
    ULONG Reserved;
#endif
    UCHAR Cdb[16];
} SCSI_REQUEST_BLOCK, *PSCSI_REQUEST_BLOCK;

#define SRB_FUNCTION_EXECUTE_SCSI 0x00
#define SRB_FUNCTION_IO_CONTROL 0x02
#define SRB_FUNCTION_SHUTDOWN 0x07
#define SRB_FUNCTION_FLUSH 0x08
#define SRB_FUNCTION_ABORT_COMMAND 0x10
#define SRB_FUNCTION_RESET_BUS 0x12
#define SRB_FUNCTION_RESET_DEVICE 0x13
#define SRB_FUNCTION_WMI 0x17
#define SRB_FUNCTION_RESET_LOGICAL_UNIT 0x20
#define SRB_FUNCTION_POWER 0x24
#define SRB_FUNCTION_PNP 0x25
#define SRB_FUNCTION_DUMP_POINTERS 0x26
#define SRB_FUNCTION_FREE_DUMP_POINTERS 0x27

// SRB_FUNCTION_PNP's layout (srb.h): the same size as an SRB, the action where QueueTag is.
typedef enum _STOR_PNP_ACTION {
    StorStartDevice = 0x0,
    StorRemoveDevice = 0x2,
    StorStopDevice = 0x4,
    StorQueryCapabilities = 0x9,
    StorQueryResourceRequirements = 0xB,
    StorFilterResourceRequirements = 0xD,
    StorSurpriseRemoval = 0x17,
} STOR_PNP_ACTION;
#define SRB_PNP_FLAGS_ADAPTER_REQUEST 0x00000001

typedef struct _SCSI_PNP_REQUEST_BLOCK {
    USHORT Length;
    UCHAR Function;
    UCHAR SrbStatus;
    UCHAR PnPSubFunction;
    UCHAR PathId;
    UCHAR TargetId;
    UCHAR Lun;
    STOR_PNP_ACTION PnPAction;
    ULONG SrbFlags;
    ULONG DataTransferLength;
    ULONG TimeOutValue;
    PVOID DataBuffer;
    PVOID SenseInfoBuffer;
    struct _SCSI_REQUEST_BLOCK* NextSrb;
    PVOID OriginalRequest;
    PVOID SrbExtension;
    ULONG SrbPnPFlags;
#if defined(_WIN64) || defined(__LP64__)
    ULONG Reserved;
#endif
    UCHAR Reserved4[16];
} SCSI_PNP_REQUEST_BLOCK;

#define SRB_STATUS_PENDING 0x00
#define SRB_STATUS_SUCCESS 0x01
#define SRB_STATUS_ABORTED 0x02
#define SRB_STATUS_ABORT_FAILED 0x03
#define SRB_STATUS_ERROR 0x04
#define SRB_STATUS_BUSY 0x05
#define SRB_STATUS_INVALID_REQUEST 0x06
#define SRB_STATUS_INVALID_PATH_ID 0x07
#define SRB_STATUS_NO_DEVICE 0x08
#define SRB_STATUS_TIMEOUT 0x09
#define SRB_STATUS_SELECTION_TIMEOUT 0x0A
#define SRB_STATUS_BUS_RESET 0x0E
#define SRB_STATUS_DATA_OVERRUN 0x12
#define SRB_STATUS_INVALID_LUN 0x20
#define SRB_STATUS_INVALID_TARGET_ID 0x21
#define SRB_STATUS_INTERNAL_ERROR 0x30
#define SRB_STATUS_QUEUE_FROZEN 0x40
#define SRB_STATUS_AUTOSENSE_VALID 0x80
#define SRB_STATUS(s) ((s) & ~(SRB_STATUS_AUTOSENSE_VALID | SRB_STATUS_QUEUE_FROZEN))

#define SRB_FLAGS_DISABLE_AUTOSENSE 0x00000020
#define SRB_FLAGS_DATA_IN 0x00000040
#define SRB_FLAGS_DATA_OUT 0x00000080
#define SRB_FLAGS_UNSPECIFIED_DIRECTION (SRB_FLAGS_DATA_IN | SRB_FLAGS_DATA_OUT)

#define SRB_SIMPLE_TAG_REQUEST 0x20
#define SRB_HEAD_OF_QUEUE_TAG_REQUEST 0x21
#define SRB_ORDERED_QUEUE_TAG_REQUEST 0x22

// ---- Port configuration (storport.h) -----------------------------------------------------------
typedef struct _ACCESS_RANGE {
    PHYSICAL_ADDRESS RangeStart;
    ULONG RangeLength;
    BOOLEAN RangeInMemory;
} ACCESS_RANGE, *PACCESS_RANGE;

typedef struct _MEMORY_REGION {
    PUCHAR VirtualBase;
    PHYSICAL_ADDRESS PhysicalBase;
    ULONG Length;
} MEMORY_REGION;

typedef enum _STOR_SYNCHRONIZATION_MODEL { StorSynchronizeHalfDuplex, StorSynchronizeFullDuplex } STOR_SYNCHRONIZATION_MODEL;
typedef enum _INTERRUPT_SYNCHRONIZATION_MODE { InterruptSupportNone, InterruptSynchronizeAll, InterruptSynchronizePerMessage } INTERRUPT_SYNCHRONIZATION_MODE;

typedef struct _PORT_CONFIGURATION_INFORMATION {
    ULONG Length;
    ULONG SystemIoBusNumber;
    INTERFACE_TYPE AdapterInterfaceType;
    ULONG BusInterruptLevel;
    ULONG BusInterruptVector;
    KINTERRUPT_MODE InterruptMode;
    ULONG MaximumTransferLength;
    ULONG NumberOfPhysicalBreaks;
    ULONG DmaChannel;
    ULONG DmaPort;
    DMA_WIDTH DmaWidth;
    DMA_SPEED DmaSpeed;
    ULONG AlignmentMask;
    ULONG NumberOfAccessRanges;
    ACCESS_RANGE (*AccessRanges)[1];
    PVOID MiniportDumpData;  // Reserved before Windows 8
    UCHAR NumberOfBuses;
    CCHAR InitiatorBusId[8];
    BOOLEAN ScatterGather;
    BOOLEAN Master;
    BOOLEAN CachesData;
    BOOLEAN AdapterScansDown;
    BOOLEAN AtdiskPrimaryClaimed;
    BOOLEAN AtdiskSecondaryClaimed;
    BOOLEAN Dma32BitAddresses;
    BOOLEAN DemandMode;
    UCHAR MapBuffers;
    BOOLEAN NeedPhysicalAddresses;
    BOOLEAN TaggedQueuing;
    BOOLEAN AutoRequestSense;
    BOOLEAN MultipleRequestPerLu;
    BOOLEAN ReceiveEvent;
    BOOLEAN RealModeInitialized;
    BOOLEAN BufferAccessScsiPortControlled;
    UCHAR MaximumNumberOfTargets;
    UCHAR SrbType;      // ReservedUchars[0] before Windows 8
    UCHAR AddressType;  // ReservedUchars[1] before Windows 8
    ULONG SlotNumber;
    ULONG BusInterruptLevel2;
    ULONG BusInterruptVector2;
    KINTERRUPT_MODE InterruptMode2;
    ULONG DmaChannel2;
    ULONG DmaPort2;
    DMA_WIDTH DmaWidth2;
    DMA_SPEED DmaSpeed2;
    ULONG DeviceExtensionSize;
    ULONG SpecificLuExtensionSize;
    ULONG SrbExtensionSize;
    UCHAR Dma64BitAddresses;
    BOOLEAN ResetTargetSupported;
    UCHAR MaximumNumberOfLogicalUnits;
    BOOLEAN WmiDataProvider;
    STOR_SYNCHRONIZATION_MODEL SynchronizationModel;
    PVOID HwMSInterruptRoutine;
    INTERRUPT_SYNCHRONIZATION_MODE InterruptSynchronizationMode;
    MEMORY_REGION DumpRegion;
    ULONG RequestedDumpBufferSize;
    BOOLEAN VirtualDevice;
    UCHAR DumpMode;  // Windows 8+ (padding before)
    ULONG ExtendedFlags1;
    ULONG MaxNumberOfIO;
    // Windows 8 and later only: written only when ConfigInfo->Length covers them.
    ULONG MaxIOsPerLun;
    ULONG InitialLunQueueDepth;
    ULONG BusResetHoldTime;
    ULONG FeatureSupport;
} PORT_CONFIGURATION_INFORMATION, *PPORT_CONFIGURATION_INFORMATION;

#define STOR_MAP_NO_BUFFERS 0
#define STOR_MAP_ALL_BUFFERS 1
#define STOR_MAP_NON_READ_WRITE_BUFFERS 2

#define SP_RETURN_NOT_FOUND 0
#define SP_RETURN_FOUND 1
#define SP_RETURN_ERROR 2
#define SP_RETURN_BAD_CONFIG 3

#define SCSI_DMA64_MINIPORT_SUPPORTED 0x01

// ---- Adapter control ---------------------------------------------------------------------------
// Microsoft's values (storport.h, SCSI_ADAPTER_CONTROL_TYPE); a wrong number here makes the miniport
// act on a control StorPort did not send.
typedef enum _SCSI_ADAPTER_CONTROL_TYPE {
    ScsiQuerySupportedControlTypes = 0,
    ScsiStopAdapter = 1,
    ScsiRestartAdapter = 2,
    ScsiSetBootConfig = 3,
    ScsiSetRunningConfig = 4,
    ScsiPowerSettingNotification = 5,
    ScsiAdapterPower = 6,
    ScsiAdapterPoFxPowerRequired = 7,
    ScsiAdapterPoFxPowerActive = 8,
    ScsiAdapterPoFxPowerSetFState = 9,
    ScsiAdapterPoFxPowerControl = 10,
    ScsiAdapterPrepareForBusReScan = 11,
    ScsiAdapterSystemPowerHints = 12,  // Modern Standby machines: a hint, not a stop
    ScsiAdapterFilterResourceRequirements = 13,
    ScsiAdapterPoFxMaxOperationalPower = 14,
    ScsiAdapterPoFxSetPerfState = 15,
    ScsiAdapterSurpriseRemoval = 16,
    ScsiAdapterControlMax = 17,  // Windows 10's storport.h; Windows 7's ended at 5 (after ScsiSetRunningConfig)
    MakeAdapterControlTypeSizeOfUlong = 0xffffffff
} SCSI_ADAPTER_CONTROL_TYPE;

typedef enum _SCSI_ADAPTER_CONTROL_STATUS { ScsiAdapterControlSuccess = 0, ScsiAdapterControlUnsuccessful } SCSI_ADAPTER_CONTROL_STATUS;

typedef struct _SCSI_SUPPORTED_CONTROL_TYPE_LIST {
    ULONG MaxControlType;
    BOOLEAN SupportedTypeList[1];  // MaxControlType entries
} SCSI_SUPPORTED_CONTROL_TYPE_LIST, *PSCSI_SUPPORTED_CONTROL_TYPE_LIST;

// ---- Callbacks and the virtual initialization data ---------------------------------------------
typedef BOOLEAN VS_API HW_INITIALIZE(PVOID DeviceExtension);
typedef BOOLEAN VS_API HW_STARTIO(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb);
typedef BOOLEAN VS_API HW_INTERRUPT(PVOID DeviceExtension);
typedef ULONG VS_API VIRTUAL_HW_FIND_ADAPTER(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation,
                                             PVOID LowerDevice, PCHAR ArgumentString,
                                             PPORT_CONFIGURATION_INFORMATION ConfigInfo, PBOOLEAN Again);
typedef BOOLEAN VS_API HW_RESET_BUS(PVOID DeviceExtension, ULONG PathId);
typedef SCSI_ADAPTER_CONTROL_STATUS VS_API HW_ADAPTER_CONTROL(PVOID DeviceExtension,
                                                              SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                                              PVOID Parameters);
typedef VOID VS_API HW_FREE_ADAPTER_RESOURCES(PVOID DeviceExtension);
typedef VOID VS_API HW_PROCESS_SERVICE_REQUEST(PVOID DeviceExtension, PVOID Irp);
typedef VOID VS_API HW_COMPLETE_SERVICE_IRP(PVOID DeviceExtension);
typedef VOID VS_API HW_TIMER(PVOID DeviceExtension);

typedef struct _VIRTUAL_HW_INITIALIZATION_DATA {
    ULONG HwInitializationDataSize;
    INTERFACE_TYPE AdapterInterfaceType;
    HW_INITIALIZE* HwInitialize;
    HW_STARTIO* HwStartIo;
    HW_INTERRUPT* HwInterrupt;
    VIRTUAL_HW_FIND_ADAPTER* HwFindAdapter;
    HW_RESET_BUS* HwResetBus;
    PVOID HwDmaStarted;
    PVOID HwAdapterState;
    ULONG DeviceExtensionSize;
    ULONG SpecificLuExtensionSize;
    ULONG SrbExtensionSize;
    ULONG NumberOfAccessRanges;
    PVOID Reserved;
    UCHAR MapBuffers;
    BOOLEAN NeedPhysicalAddresses;
    BOOLEAN TaggedQueuing;
    BOOLEAN AutoRequestSense;
    BOOLEAN MultipleRequestPerLu;
    BOOLEAN ReceiveEvent;
    USHORT VendorIdLength;
    PVOID VendorId;
    union {
        USHORT ReservedUshort;
        USHORT PortVersionFlags;
    };
    USHORT DeviceIdLength;
    PVOID DeviceId;
    HW_ADAPTER_CONTROL* HwAdapterControl;
    PVOID HwBuildIo;
    HW_FREE_ADAPTER_RESOURCES* HwFreeAdapterResources;
    HW_PROCESS_SERVICE_REQUEST* HwProcessServiceRequest;
    HW_COMPLETE_SERVICE_IRP* HwCompleteServiceIrp;
    PVOID HwInitializeTracing;
    PVOID HwCleanupTracing;
} VIRTUAL_HW_INITIALIZATION_DATA;

// ---- Exports of storport.sys --------------------------------------------------------------------
typedef enum _SCSI_NOTIFICATION_TYPE {
    RequestComplete = 0,
    NextRequest = 1,
    NextLuRequest = 2,
    ResetDetected = 3,
    CallDisableInterrupts = 4,
    CallEnableInterrupts = 5,
    RequestTimerCall = 6,
    BusChangeDetected = 7,
} SCSI_NOTIFICATION_TYPE;

typedef enum _STORPORT_FUNCTION_CODE {
    ExtFunctionGetSystemAddress = 5,
    ExtFunctionGetOriginalMdl = 6,
    ExtFunctionCompleteServiceIrp = 7,
} STORPORT_FUNCTION_CODE;

#define STOR_STATUS_SUCCESS 0x00000000UL
#define STOR_STATUS_NOT_IMPLEMENTED 0xC1000002UL
#define STOR_STATUS_INSUFFICIENT_RESOURCES 0xC1000003UL
#define STOR_STATUS_INVALID_PARAMETER 0xC1000006UL

#if defined(VSTOR_STORPORT_SIM)
#define VS_STORPORT_IMPORT
#else
#define VS_STORPORT_IMPORT __declspec(dllimport)
#endif

VS_STORPORT_IMPORT ULONG VS_API StorPortInitialize(PVOID Argument1, PVOID Argument2,
                                                   VIRTUAL_HW_INITIALIZATION_DATA* HwInitializationData,
                                                   PVOID HwContext);
// Variadic, hence cdecl on x86.
VS_STORPORT_IMPORT VOID StorPortNotification(SCSI_NOTIFICATION_TYPE NotificationType, PVOID HwDeviceExtension, ...);
VS_STORPORT_IMPORT ULONG StorPortExtendedFunction(STORPORT_FUNCTION_CODE FunctionCode, PVOID HwDeviceExtension, ...);

#ifdef __cplusplus
}
#endif

// RequestTimerCall hands HwTimer to StorPort through StorPortNotification's varargs, where no
// type is checked: a timer routine with the wrong calling convention (cdecl on x86) would compile.
// Every call goes through this typed wrapper, and the raw name is hidden below so the compiler
// refuses any other use.
static inline VOID VsRequestTimerCall(PVOID HwDeviceExtension, HW_TIMER* Timer, ULONG Microseconds) {
    StorPortNotification(RequestTimerCall, HwDeviceExtension, Timer, Microseconds);
}
static inline VOID VsRequestComplete(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb) {
    StorPortNotification(RequestComplete, HwDeviceExtension, Srb);
}
static inline VOID VsBusChangeDetected(PVOID HwDeviceExtension, UCHAR PathId) {
    StorPortNotification(BusChangeDetected, HwDeviceExtension, PathId);
}

// In the WDK these two are header wrappers over StorPortExtendedFunction, not exports.
static inline ULONG StorPortGetSystemAddress(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb, PVOID* SystemAddress) {
    return StorPortExtendedFunction(ExtFunctionGetSystemAddress, HwDeviceExtension, Srb, SystemAddress);
}
static inline ULONG StorPortCompleteServiceIrp(PVOID HwDeviceExtension, PIRP Irp) {
    return StorPortExtendedFunction(ExtFunctionCompleteServiceIrp, HwDeviceExtension, Irp);
}

#if !defined(VSTOR_STORPORT_SIM)
// The driver's sources use only the typed wrappers above; the cross builds refuse anything else
// (the emulator, which implements the export, keeps the name).
#define StorPortNotification StorPortNotification_is_untyped_use_VsRequestTimerCall_VsRequestComplete_VsBusChangeDetected
#endif

// IOCTL_MINIPORT_PROCESS_SERVICE_IRP = CTL_CODE(IOCTL_SCSI_BASE, 0x040e, METHOD_BUFFERED,
// FILE_READ_ACCESS | FILE_WRITE_ACCESS)
#define VS_IOCTL_MINIPORT_PROCESS_SERVICE_IRP 0x0004D038UL
static_assert(VS_IOCTL_MINIPORT_PROCESS_SERVICE_IRP == ((0x4UL << 16) | (3UL << 14) | (0x040eUL << 2) | 0UL),
              "CTL_CODE(IOCTL_SCSI_BASE, 0x40e, METHOD_BUFFERED, FILE_READ_ACCESS | FILE_WRITE_ACCESS)");

static_assert(sizeof(SCSI_PNP_REQUEST_BLOCK) == sizeof(SCSI_REQUEST_BLOCK), "PnP SRB size");
static_assert(offsetof(SCSI_PNP_REQUEST_BLOCK, SrbPnPFlags) == offsetof(SCSI_REQUEST_BLOCK, InternalStatus),
              "PnP SRB.SrbPnPFlags");

// Documented x64 layout (the 64-bit builds: Windows x64 and the Linux emulator).
#if defined(_WIN64) || defined(__LP64__)
static_assert(sizeof(SCSI_REQUEST_BLOCK) == 88, "SRB size");
static_assert(offsetof(SCSI_REQUEST_BLOCK, SrbFlags) == 12, "SRB.SrbFlags");
static_assert(offsetof(SCSI_REQUEST_BLOCK, DataBuffer) == 24, "SRB.DataBuffer");
static_assert(offsetof(SCSI_REQUEST_BLOCK, SrbExtension) == 56, "SRB.SrbExtension");
static_assert(offsetof(SCSI_REQUEST_BLOCK, Cdb) == 72, "SRB.Cdb");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, MaximumTransferLength) == 24, "PCI.MaximumTransferLength");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, AccessRanges) == 56, "PCI.AccessRanges");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, NumberOfBuses) == 72, "PCI.NumberOfBuses");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, MapBuffers) == 89, "PCI.MapBuffers");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, MaximumNumberOfTargets) == 97, "PCI.MaximumNumberOfTargets");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, SlotNumber) == 100, "PCI.SlotNumber");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, DeviceExtensionSize) == 132, "PCI.DeviceExtensionSize");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, MaximumNumberOfLogicalUnits) == 146, "PCI.MaximumNumberOfLogicalUnits");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, SynchronizationModel) == 148, "PCI.SynchronizationModel");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, DumpRegion) == 168, "PCI.DumpRegion");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, VirtualDevice) == 196, "PCI.VirtualDevice");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, MaxNumberOfIO) == 204, "PCI.MaxNumberOfIO");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, MaxIOsPerLun) == 208, "PCI.MaxIOsPerLun");
static_assert(sizeof(PORT_CONFIGURATION_INFORMATION) == 224, "PCI size");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, DeviceExtensionSize) == 64, "VHID.DeviceExtensionSize");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, MapBuffers) == 88, "VHID.MapBuffers");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, VendorId) == 96, "VHID.VendorId");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, HwAdapterControl) == 120, "VHID.HwAdapterControl");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, HwProcessServiceRequest) == 144, "VHID.HwProcessServiceRequest");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, HwCompleteServiceIrp) == 152, "VHID.HwCompleteServiceIrp");
static_assert(sizeof(VIRTUAL_HW_INITIALIZATION_DATA) == 176, "VHID size");
#else
// x86, derived from the same documented declarations with 4-byte pointers and 8-byte aligned
// LARGE_INTEGER (MS struct layout).
static_assert(sizeof(SCSI_REQUEST_BLOCK) == 64, "SRB size (x86)");
static_assert(offsetof(SCSI_REQUEST_BLOCK, DataBuffer) == 24, "SRB.DataBuffer (x86)");
static_assert(offsetof(SCSI_REQUEST_BLOCK, Cdb) == 48, "SRB.Cdb (x86)");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, NumberOfBuses) == 64, "PCI.NumberOfBuses (x86)");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, MapBuffers) == 81, "PCI.MapBuffers (x86)");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, SlotNumber) == 92, "PCI.SlotNumber (x86)");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, DeviceExtensionSize) == 124, "PCI.DeviceExtensionSize (x86)");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, SynchronizationModel) == 140, "PCI.SynchronizationModel (x86)");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, DumpRegion) == 152, "PCI.DumpRegion (x86)");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, VirtualDevice) == 180, "PCI.VirtualDevice (x86)");
static_assert(offsetof(PORT_CONFIGURATION_INFORMATION, MaxNumberOfIO) == 188, "PCI.MaxNumberOfIO (x86)");
static_assert(sizeof(PORT_CONFIGURATION_INFORMATION) == 208, "PCI size (x86)");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, DeviceExtensionSize) == 36, "VHID.DeviceExtensionSize (x86)");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, MapBuffers) == 56, "VHID.MapBuffers (x86)");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, HwAdapterControl) == 76, "VHID.HwAdapterControl (x86)");
static_assert(offsetof(VIRTUAL_HW_INITIALIZATION_DATA, HwCompleteServiceIrp) == 92, "VHID.HwCompleteServiceIrp (x86)");
static_assert(sizeof(VIRTUAL_HW_INITIALIZATION_DATA) == 104, "VHID size (x86)");
#endif
