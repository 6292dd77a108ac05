// Compiled only by convention_check.py with the x86 cross compiler: each VS_MISMATCH_* case hands
// the kernel a routine declared cdecl where Windows calls it stdcall, and must fail to compile;
// with no case defined the file must compile, so the check cannot pass because the file is broken.
#include "miniport.h"

#if defined(VS_MISMATCH_CANCEL)
#define VS_CANCEL_API  // cdecl: the mistake under test
#else
#define VS_CANCEL_API NTAPI
#endif
#if defined(VS_MISMATCH_TIMER)
#define VS_TIMER_API
#else
#define VS_TIMER_API VS_API
#endif
#if defined(VS_MISMATCH_DISPATCH)
#define VS_DISPATCH_API
#else
#define VS_DISPATCH_API NTAPI
#endif
#if defined(VS_MISMATCH_STARTIO)
#define VS_STARTIO_API
#else
#define VS_STARTIO_API VS_API
#endif

namespace {
VOID VS_CANCEL_API cancel(PDEVICE_OBJECT, PIRP) {}
VOID VS_TIMER_API timer(PVOID) {}
BOOLEAN VS_STARTIO_API start_io(PVOID, PSCSI_REQUEST_BLOCK) { return TRUE; }
NTSTATUS VS_DISPATCH_API cleanup(PDEVICE_OBJECT, PIRP) { return STATUS_SUCCESS; }
}  // namespace

extern "C" void vs_convention_probe(PIRP irp, PVOID extension, VIRTUAL_HW_INITIALIZATION_DATA* init,
                                    PDRIVER_OBJECT driver) {
    IoSetCancelRoutine(irp, cancel);
    VsRequestTimerCall(extension, timer, 1000);
    init->HwStartIo = start_io;
    driver->MajorFunction[IRP_MJ_CLEANUP] = cleanup;  // as chain_cleanup installs its routine
}
