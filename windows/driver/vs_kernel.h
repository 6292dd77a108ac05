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
#if defined(__i386__)
#define VS_API __stdcall
#else
#define VS_API
#endif

static inline ULONG VsIrpIoControlCode(PIRP irp) {
    return IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.IoControlCode;
}
static inline ULONG VsIrpInputLength(PIRP irp) {
    return IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.InputBufferLength;
}
static inline ULONG VsIrpOutputLength(PIRP irp) {
    return IoGetCurrentIrpStackLocation(irp)->Parameters.DeviceIoControl.OutputBufferLength;
}
// The owner of a pending IRP may use Tail.Overlay.DriverContext (four pointers).
static inline PVOID* VsIrpDriverContext(PIRP irp) { return irp->Tail.Overlay.DriverContext; }
#endif

#include "irp_layout.h"
