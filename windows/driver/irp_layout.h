// The offsets of the IRP fields vstor.sys uses, per architecture, as the DDK lays them out. The
// cross build asserts them against mingw-w64's wdm.h, the emulator's builds (native 64-bit and the
// 32-bit one that loads the x86 image) against vs_sim_kernel.h, so an IRP the emulator builds is
// read correctly by the real vstor.sys image (windows/sim/pe_*).
#pragma once

#include <stddef.h>

#if defined(_WIN64) || defined(__LP64__)
#define VS_IRP_OFFSETS(X)                                                                      \
    X(IRP, MdlAddress, 8) X(IO_STACK_LOCATION, Control, 3)                                     \
    X(MDL, MdlFlags, 10) X(MDL, MappedSystemVa, 24) X(MDL, StartVa, 32) X(MDL, ByteCount, 40)   \
    X(MDL, ByteOffset, 44)                                                                     \
    X(IRP, AssociatedIrp.SystemBuffer, 24) X(IRP, IoStatus.Status, 48)                         \
    X(IRP, IoStatus.Information, 56) X(IRP, Cancel, 68) X(IRP, CancelIrql, 69)                 \
    X(IRP, CancelRoutine, 104) X(IRP, Tail.Overlay.DriverContext, 120)                         \
    X(IRP, Tail.Overlay.CurrentStackLocation, 184)                                             \
    X(IO_STACK_LOCATION, Parameters.DeviceIoControl.OutputBufferLength, 8)                     \
    X(IO_STACK_LOCATION, Parameters.DeviceIoControl.InputBufferLength, 16)                     \
    X(IO_STACK_LOCATION, Parameters.DeviceIoControl.IoControlCode, 24)                         \
    X(IO_STACK_LOCATION, FileObject, 48) X(DRIVER_OBJECT, MajorFunction, 112)                  \
    X(KLOCK_QUEUE_HANDLE, OldIrql, 16)
#define VS_IRP_SIZES(X) X(IRP, 208) X(IO_STACK_LOCATION, 72) X(KLOCK_QUEUE_HANDLE, 24) X(DRIVER_OBJECT, 336) X(MDL, 48)
#else
#define VS_IRP_OFFSETS(X)                                                                      \
    X(IRP, MdlAddress, 4) X(IO_STACK_LOCATION, Control, 3)                                     \
    X(MDL, MdlFlags, 6) X(MDL, MappedSystemVa, 12) X(MDL, StartVa, 16) X(MDL, ByteCount, 20)    \
    X(MDL, ByteOffset, 24)                                                                     \
    X(IRP, AssociatedIrp.SystemBuffer, 12) X(IRP, IoStatus.Status, 24)                         \
    X(IRP, IoStatus.Information, 28) X(IRP, Cancel, 36) X(IRP, CancelIrql, 37)                 \
    X(IRP, CancelRoutine, 56) X(IRP, Tail.Overlay.DriverContext, 64)                           \
    X(IRP, Tail.Overlay.CurrentStackLocation, 96)                                              \
    X(IO_STACK_LOCATION, Parameters.DeviceIoControl.OutputBufferLength, 4)                     \
    X(IO_STACK_LOCATION, Parameters.DeviceIoControl.InputBufferLength, 8)                      \
    X(IO_STACK_LOCATION, Parameters.DeviceIoControl.IoControlCode, 12)                         \
    X(IO_STACK_LOCATION, FileObject, 24) X(DRIVER_OBJECT, MajorFunction, 56)                   \
    X(KLOCK_QUEUE_HANDLE, OldIrql, 8)
#define VS_IRP_SIZES(X) X(IRP, 112) X(IO_STACK_LOCATION, 36) X(KLOCK_QUEUE_HANDLE, 12) X(DRIVER_OBJECT, 168) X(MDL, 28)
#endif

#define VS_ASSERT_OFFSET(type, field, off) static_assert(offsetof(type, field) == off, #type "." #field);
#define VS_ASSERT_SIZE(type, size) static_assert(sizeof(type) == size, "sizeof " #type);
VS_IRP_OFFSETS(VS_ASSERT_OFFSET)
VS_IRP_SIZES(VS_ASSERT_SIZE)
#undef VS_ASSERT_OFFSET
#undef VS_ASSERT_SIZE
