// Kernel declarations for vstor.sys. On Windows (mingw-w64 cross build) they come from the DDK's
// ntddk.h; in the Linux StorPort emulator from windows/sim/include/vs_sim_kernel.h. The few IRP
// accessors the driver needs are wrapped here so the driver sources are the same in both builds.
#pragma once

#if defined(VSTOR_STORPORT_SIM)
#include "vs_sim_kernel.h"
#define VS_API
#else
// Windows 7 / Server 2008 R2 is the oldest target: pin the DDK to it (mingw defaults to Windows 10).
#ifndef NTDDI_VERSION
#define NTDDI_VERSION 0x06010000
#endif
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0601
#endif
// mingw's wdm.h redefines these two intrinsics that intrin.h already provides (an error in C++).
#define __INTRINSIC_DEFINED_InterlockedBitTestAndSet
#define __INTRINSIC_DEFINED_InterlockedBitTestAndReset
#include <ddk/ntddk.h>
// Miniport callbacks are __stdcall on x86, as the WDK compiles them (/Gz); x64 has one convention.
// Every function handed to the kernel is declared through a typedef carrying its convention
// (HW_* in storport_decl.h, DRIVER_CANCEL in wdm.h) and passed only through typed parameters
// (never through a cast or a varargs call), so a mismatch fails the x86 build.
#if defined(__i386__)
#define VS_API __stdcall
#else
#define VS_API
#endif

// ntifs.h's, which the miniport does not otherwise need: the id of the process that sent the IRP.
extern "C" __declspec(dllimport) ULONG NTAPI IoGetRequestorProcessId(PIRP Irp);

static inline ULONG VsIrpIoControlCode(PIRP irp) {
    return IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.IoControlCode;
}
static inline ULONG VsIrpInputLength(PIRP irp) {
    return IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.InputBufferLength;
}
static inline ULONG VsIrpOutputLength(PIRP irp) {
    return IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.OutputBufferLength;
}
// The file object (the handle) the IRP was sent on.
static inline PVOID VsIrpFileObject(PIRP irp) { return IoGetCurrentIrpStackLocation(irp)->FileObject; }
// Not Tail.Overlay.DriverContext: it belongs to the IRP's owner, StorPort (docs/windows.md).

// wdm.h's IoSetCancelRoutine is a macro that casts the routine through ULONG_PTR, so a cancel
// routine with the wrong calling convention (cdecl instead of NTAPI = stdcall on x86) compiled
// silently and unbalanced the I/O manager's stack on every cancellation. This typed version makes
// the x86 build reject such a routine (g++ treats the convention as part of the pointer's type).
static inline PDRIVER_CANCEL VsIoSetCancelRoutine(PIRP irp, PDRIVER_CANCEL routine) {
    return reinterpret_cast<PDRIVER_CANCEL>(
        InterlockedExchangePointer(reinterpret_cast<PVOID volatile*>(&irp->CancelRoutine), reinterpret_cast<PVOID>(routine)));
}
#undef IoSetCancelRoutine
#define IoSetCancelRoutine VsIoSetCancelRoutine
#endif

#include "irp_layout.h"
