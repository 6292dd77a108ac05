// The slice of the Windows kernel (wdm.h) that vstor.sys uses, declared for the Linux StorPort
// emulator. Sizes follow Windows: ULONG/LONG are 32-bit (LLP64), pointers are native. Only the
// IRP fields the driver touches exist; the emulator (windows/sim) implements the functions.
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef void VOID;
typedef void* PVOID;
typedef uint8_t UCHAR, *PUCHAR;
typedef char CHAR, CCHAR, *PCHAR;
typedef uint16_t USHORT, *PUSHORT;
typedef int16_t SHORT;
typedef uint32_t ULONG, *PULONG;
typedef int32_t LONG, *PLONG;
typedef uint64_t ULONGLONG;
typedef int64_t LONGLONG;
typedef uintptr_t ULONG_PTR;
typedef UCHAR BOOLEAN, *PBOOLEAN;
typedef LONG NTSTATUS;
typedef UCHAR KIRQL;
typedef ULONG_PTR KSPIN_LOCK, *PKSPIN_LOCK;

#define TRUE 1
#define FALSE 0
#define NTAPI
#define NT_SUCCESS(s) (((NTSTATUS)(s)) >= 0)

#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010L)
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023L)
#define STATUS_REVISION_MISMATCH ((NTSTATUS)0xC0000059L)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#define STATUS_DEVICE_BUSY ((NTSTATUS)0x80000011L)
#define STATUS_ACCESS_DENIED ((NTSTATUS)0xC0000022L)
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120L)
#define STATUS_DEVICE_NOT_CONNECTED ((NTSTATUS)0xC000009DL)
#define STATUS_DEVICE_REMOVED ((NTSTATUS)0xC00002B6L)
#define STATUS_FILE_CLOSED ((NTSTATUS)0xC0000128L)

typedef enum _INTERFACE_TYPE { InterfaceTypeUndefined = -1, Internal = 0, Isa, Eisa } INTERFACE_TYPE;
typedef enum _KINTERRUPT_MODE { LevelSensitive, Latched } KINTERRUPT_MODE;
typedef enum _DMA_WIDTH { Width8Bits, Width16Bits, Width32Bits, MaximumDmaWidth } DMA_WIDTH;
typedef enum _DMA_SPEED { Compatible, TypeA, TypeB, TypeC, TypeF, MaximumDmaSpeed } DMA_SPEED;
// 8-byte aligned as on Windows, also in the emulator's 32-bit build (i386 System V aligns 64-bit
// integers in structures to 4).
typedef union __attribute__((aligned(8))) _LARGE_INTEGER {
    struct { ULONG LowPart; LONG HighPart; } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, PHYSICAL_ADDRESS;

typedef struct _GUID {
    ULONG Data1;
    USHORT Data2;
    USHORT Data3;
    UCHAR Data4[8];
} GUID;
typedef const GUID* LPCGUID;

typedef struct _UNICODE_STRING { USHORT Length; USHORT MaximumLength; uint16_t* Buffer; } UNICODE_STRING, *PUNICODE_STRING;
typedef struct _DEVICE_OBJECT { PVOID sim_owner; } DEVICE_OBJECT, *PDEVICE_OBJECT;

struct _IRP;
typedef VOID DRIVER_CANCEL(PDEVICE_OBJECT DeviceObject, struct _IRP* Irp);
typedef DRIVER_CANCEL* PDRIVER_CANCEL;
typedef NTSTATUS DRIVER_DISPATCH(PDEVICE_OBJECT DeviceObject, struct _IRP* Irp);
typedef DRIVER_DISPATCH* PDRIVER_DISPATCH;

#define IRP_MJ_CLOSE 0x02
#define IRP_MJ_CLEANUP 0x12
#define IRP_MJ_MAXIMUM_FUNCTION 0x1b
// wdm.h's layout (irp_layout.h asserts MajorFunction's offset): the image writes its dispatch
// routines into the table.
typedef struct _DRIVER_OBJECT {
    SHORT Type;
    SHORT Size;
    PDEVICE_OBJECT DeviceObject;
    ULONG Flags;
    PVOID DriverStart;
    ULONG DriverSize;
    PVOID DriverSection;
    PVOID DriverExtension;
    UNICODE_STRING DriverName;
    PUNICODE_STRING HardwareDatabase;
    PVOID FastIoDispatch;
    PVOID DriverInit;
    PVOID DriverStartIo;
    PVOID DriverUnload;
    PDRIVER_DISPATCH MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];
} DRIVER_OBJECT, *PDRIVER_OBJECT;

// A memory descriptor list with wdm.h's layout: the emulator builds one over the caller's buffer
// for a METHOD_*_DIRECT IOCTL (windows/sim/emulator_service_irps.cpp).
typedef struct _MDL {
    struct _MDL* Next;
    SHORT Size;
    SHORT MdlFlags;
    PVOID Process;
    PVOID MappedSystemVa;
    PVOID StartVa;
    ULONG ByteCount;
    ULONG ByteOffset;
} MDL, *PMDL;
#define MDL_MAPPED_TO_SYSTEM_VA 0x0001
#define MDL_PAGES_LOCKED 0x0002
#define MDL_SOURCE_IS_NONPAGED_POOL 0x0004
typedef enum _MODE { KernelMode, UserMode } KPROCESSOR_MODE_ENUM;
typedef CCHAR KPROCESSOR_MODE;
typedef enum _MEMORY_CACHING_TYPE { MmNonCached, MmCached, MmWriteCombined } MEMORY_CACHING_TYPE;
typedef enum _MM_PAGE_PRIORITY { LowPagePriority = 0, NormalPagePriority = 16, HighPagePriority = 32 } MM_PAGE_PRIORITY;

typedef struct _IO_STATUS_BLOCK { union { NTSTATUS Status; PVOID Pointer; }; ULONG_PTR Information; } IO_STATUS_BLOCK;
typedef struct _LIST_ENTRY { struct _LIST_ENTRY* Flink; struct _LIST_ENTRY* Blink; } LIST_ENTRY;

// The IRP and its stack location with the field order and sizes of wdm.h, so the offsets are those
// of Windows on each architecture (asserted in irp_layout.h against the DDK's own IRP in the cross
// build): a cross-built vstor.sys loaded into the emulator (windows/sim/pe_*) reads the same IRPs
// as the natively compiled driver. Unions whose other members the driver never uses are flattened
// to their largest member.
#define VS_POINTER_ALIGNMENT __attribute__((aligned(sizeof(void*))))
typedef struct _IO_STACK_LOCATION {
    UCHAR MajorFunction;
    UCHAR MinorFunction;
    UCHAR Flags;
    UCHAR Control;
    union {
        struct {
            ULONG OutputBufferLength;
            ULONG VS_POINTER_ALIGNMENT InputBufferLength;
            ULONG VS_POINTER_ALIGNMENT IoControlCode;
            PVOID Type3InputBuffer;
        } DeviceIoControl;
        PVOID Others[4];
    } Parameters;
    PDEVICE_OBJECT DeviceObject;
    PVOID FileObject;
    PVOID CompletionRoutine;
    PVOID Context;
} IO_STACK_LOCATION, *PIO_STACK_LOCATION;
#define IRP_MJ_DEVICE_CONTROL 0x0e
#define SL_PENDING_RETURNED 0x01
#define IO_NO_INCREMENT 0

typedef struct _IRP {
    SHORT Type;
    USHORT Size;
    PMDL MdlAddress;
    ULONG Flags;
    union { struct _IRP* MasterIrp; LONG IrpCount; PVOID SystemBuffer; } AssociatedIrp;
    LIST_ENTRY ThreadListEntry;
    IO_STATUS_BLOCK IoStatus;
    CHAR RequestorMode;
    BOOLEAN PendingReturned;
    CHAR StackCount;
    CHAR CurrentLocation;
    BOOLEAN Cancel;
    KIRQL CancelIrql;
    CCHAR ApcEnvironment;
    UCHAR AllocationFlags;
    PVOID UserIosb;
    PVOID UserEvent;
    union {
        struct { PVOID UserApcRoutine; PVOID UserApcContext; } AsynchronousParameters;
        LARGE_INTEGER AllocationSize;
    } Overlay;
    PDRIVER_CANCEL volatile CancelRoutine;
    PVOID UserBuffer;
    union {
        struct {
            PVOID DriverContext[4];  // the larger member of its union with KDEVICE_QUEUE_ENTRY
            PVOID Thread;
            PCHAR AuxiliaryBuffer;
            LIST_ENTRY ListEntry;
            PIO_STACK_LOCATION CurrentStackLocation;  // in a union with ULONG PacketType
            PVOID OriginalFileObject;
        } Overlay;
        UCHAR Apc[sizeof(void*) == 8 ? 88 : 48];  // KAPC
    } Tail;
} IRP, *PIRP;

// KLOCK_QUEUE_HANDLE: a KSPIN_LOCK_QUEUE (next, lock) and the IRQL to return to.
typedef struct _KLOCK_QUEUE_HANDLE {
    struct { PVOID Next; PKSPIN_LOCK Lock; } LockQueue;
    KIRQL OldIrql;
} KLOCK_QUEUE_HANDLE, *PKLOCK_QUEUE_HANDLE;

#ifdef __cplusplus
extern "C" {
#endif
VOID KeInitializeSpinLock(PKSPIN_LOCK SpinLock);
VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle);
VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle);
VOID IoReleaseCancelSpinLock(KIRQL Irql);
PDRIVER_CANCEL IoSetCancelRoutine(PIRP Irp, PDRIVER_CANCEL CancelRoutine);
NTSTATUS IoRegisterDeviceInterface(PDEVICE_OBJECT PhysicalDeviceObject, const GUID* InterfaceClassGuid,
                                   PUNICODE_STRING ReferenceString, PUNICODE_STRING SymbolicLinkName);
NTSTATUS IoSetDeviceInterfaceState(PUNICODE_STRING SymbolicLinkName, BOOLEAN Enable);
VOID RtlFreeUnicodeString(PUNICODE_STRING UnicodeString);
ULONG IoGetRequestorProcessId(PIRP Irp);
PVOID MmMapLockedPagesSpecifyCache(PMDL Mdl, KPROCESSOR_MODE AccessMode, MEMORY_CACHING_TYPE CacheType, PVOID BaseAddress,
                                   ULONG BugCheckOnFailure, ULONG Priority);
VOID IofCompleteRequest(PIRP Irp, CCHAR PriorityBoost);
// Every copy the natively compiled driver makes goes through the emulator (RtlCopyMemory below),
// as a PE image's go through its memcpy import: the data path's copies are checked in both.
void* vs_sim_copy(void* dst, const void* src, size_t n);
#ifdef __cplusplus
}
#endif

#define RtlCopyMemory(d, s, n) vs_sim_copy((d), (s), (n))
#define IoCompleteRequest IofCompleteRequest
// wdm.h's macros, the same in the emulator.
#define MmGetSystemAddressForMdlSafe(mdl, priority)                                              \
    (((mdl)->MdlFlags & (MDL_MAPPED_TO_SYSTEM_VA | MDL_SOURCE_IS_NONPAGED_POOL))                 \
         ? (mdl)->MappedSystemVa                                                                 \
         : MmMapLockedPagesSpecifyCache((mdl), KernelMode, MmCached, NULL, FALSE, (priority)))
#define RtlZeroMemory(d, n) memset((d), 0, (n))

static inline ULONG VsIrpIoControlCode(PIRP irp) {
    return irp->Tail.Overlay.CurrentStackLocation->Parameters.DeviceIoControl.IoControlCode;
}
static inline ULONG VsIrpInputLength(PIRP irp) {
    return irp->Tail.Overlay.CurrentStackLocation->Parameters.DeviceIoControl.InputBufferLength;
}
static inline ULONG VsIrpOutputLength(PIRP irp) {
    return irp->Tail.Overlay.CurrentStackLocation->Parameters.DeviceIoControl.OutputBufferLength;
}
static inline PVOID VsIrpFileObject(PIRP irp) { return irp->Tail.Overlay.CurrentStackLocation->FileObject; }
static inline void IoMarkIrpPending(PIRP irp) { irp->Tail.Overlay.CurrentStackLocation->Control |= SL_PENDING_RETURNED; }
