// The StorPort, ntoskrnl and HAL routines the emulator provides to vstor.sys, listed once.
//
// The native build links the driver's sources against these functions directly (their prototypes
// come from the driver's own headers, vs_sim_kernel.h and storport_decl.h; the declarations below
// must agree with them or kernel_exports.cpp does not compile). The loader for the cross-built
// PE images binds the image's imports, by DLL and name, to Windows-convention wrappers made from
// the same lists.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "storport_decl.h"

// Exports with a fixed argument list:
//   X(x64 DLL, x86 DLL, x86 convention, return type, name, (parameters), (argument names))
// The DLL is the one a Windows image imports the routine from (the HAL's queued spin locks live in
// ntoskrnl.exe on x64 and in hal.dll on x86).
#define VS_SIM_FIXED_EXPORTS(X)                                                                            \
    X(storport, storport, stdcall, ULONG, StorPortInitialize,                                             \
      (PVOID argument1, PVOID argument2, VIRTUAL_HW_INITIALIZATION_DATA* data, PVOID context),             \
      (argument1, argument2, data, context))                                                              \
    X(ntoskrnl, hal, fastcall, VOID, KeAcquireInStackQueuedSpinLock,                                      \
      (PKSPIN_LOCK lock, PKLOCK_QUEUE_HANDLE handle), (lock, handle))                                     \
    X(ntoskrnl, hal, fastcall, VOID, KeReleaseInStackQueuedSpinLock, (PKLOCK_QUEUE_HANDLE handle), (handle)) \
    X(ntoskrnl, ntoskrnl, stdcall, VOID, IoReleaseCancelSpinLock, (KIRQL irql), (irql))                   \
    X(ntoskrnl, ntoskrnl, stdcall, NTSTATUS, IoRegisterDeviceInterface,                                   \
      (PDEVICE_OBJECT pdo, const GUID* guid, PUNICODE_STRING reference, PUNICODE_STRING link),            \
      (pdo, guid, reference, link))                                                                       \
    X(ntoskrnl, ntoskrnl, stdcall, NTSTATUS, IoSetDeviceInterfaceState,                                   \
      (PUNICODE_STRING link, BOOLEAN enable), (link, enable))                                             \
    X(ntoskrnl, ntoskrnl, stdcall, VOID, RtlFreeUnicodeString, (PUNICODE_STRING string), (string))        \
    X(ntoskrnl, ntoskrnl, stdcall, ULONG, IoGetRequestorProcessId, (PIRP irp), (irp))                     \
    X(ntoskrnl, ntoskrnl, stdcall, PVOID, MmMapLockedPagesSpecifyCache,                                   \
      (PMDL mdl, KPROCESSOR_MODE mode, MEMORY_CACHING_TYPE cache, PVOID base, ULONG bugcheck, ULONG priority), \
      (mdl, mode, cache, base, bugcheck, priority))                                                       \
    X(ntoskrnl, ntoskrnl, fastcall, VOID, IofCompleteRequest, (PIRP irp, CCHAR boost), (irp, boost))

// Variadic exports (cdecl on x86): StorPortNotification, StorPortExtendedFunction. Declared in
// storport_decl.h. Their work is done by the functions below once each caller has its arguments
// in hand (a C va_list in the native build; the Windows x64 or x86 variadic convention for a PE
// image, windows/sim/pe_exports.cpp).
namespace vstor::storport_sim {
class VarArgs {
public:
    virtual std::uintptr_t word() = 0;  // the next argument, pointer-sized
    virtual std::uint32_t u32() = 0;    // the next argument, a 32-bit (or promoted smaller) integer
protected:
    ~VarArgs() = default;
};
template <class T>
T next_arg(VarArgs& a) {
    if constexpr (std::is_pointer_v<T>) return reinterpret_cast<T>(a.word());
    else return static_cast<T>(a.u32());
}
VOID storport_notification(SCSI_NOTIFICATION_TYPE type, PVOID extension, VarArgs& args);
// Copies of at least kLargeCopy bytes the driver makes (through an image's memcpy import, or the
// native build's RtlCopyMemory): the SRB and service buffers' data. Counted: those made while the
// thread held `lock` (watch_copies_under: how a test sees that the data is not copied under the
// adapter's spin lock), those reading or writing an MDL's system mapping (the service's own buffer,
// direct I/O), and those reading or writing a system buffer (buffered I/O).
inline constexpr std::size_t kLargeCopy = 4096;
void note_copy(std::size_t bytes, const void* dst, const void* src);
void watch_copies_under(PKSPIN_LOCK lock);
struct CopyCounts {
    unsigned large = 0;
    unsigned under_watched_lock = 0;
    unsigned through_mdl = 0;
    unsigned through_system_buffer = 0;
};
// The ranges note_copy classifies by: MDL system mappings (MmMapLockedPagesSpecifyCache until the
// IRP completes) and system buffers (while their IRP is pending).
void track_mapping(const void* va, std::size_t bytes);
void untrack_mapping(const void* va);
void track_system_buffer(const void* va, std::size_t bytes);
void untrack_system_buffer(const void* va);
CopyCounts copy_counts();
ULONG storport_extended_function(STORPORT_FUNCTION_CODE code, PVOID extension, VarArgs& args);
}  // namespace vstor::storport_sim

// Routines that are inline functions or macros in the DDK headers, so a Windows image never
// imports them, but the natively compiled driver calls: KeInitializeSpinLock, IoSetCancelRoutine.
// Declared in vs_sim_kernel.h.

#define VS_SIM_DECLARE_EXPORT(dll64, dll32, conv, ret, name, params, args) extern "C" ret name params;
VS_SIM_FIXED_EXPORTS(VS_SIM_DECLARE_EXPORT)
#undef VS_SIM_DECLARE_EXPORT
