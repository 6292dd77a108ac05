// The driver's own dispatch routines, chained in front of StorPort's in DriverEntry (as WinSpd and
// WNBD chain PnP): IRP_MJ_DEVICE_CONTROL takes the service channel's direct-I/O IOCTL, which StorPort
// would not pass to the miniport; IRP_MJ_CLEANUP returns the IRPs parked on a closed handle and ends
// the session CONNECTed on it; IRP_MJ_CLOSE forgets the handle. Everything else goes to StorPort.
#include "miniport.h"

namespace vs {
namespace {

// StorPort's routines, run for everything vstor's do not take. Never null on Windows: the I/O
// manager fills every dispatch entry before DriverEntry, and StorPortInitialize sets its own.
PDRIVER_DISPATCH g_port_device_control;
PDRIVER_DISPATCH g_port_cleanup;
PDRIVER_DISPATCH g_port_close;

bool is_fdo(Adapter* x, void* device) { return x->fdo == device; }

DRIVER_DISPATCH dispatch_device_control;  // NTAPI: stdcall on x86, like every dispatch routine
DRIVER_DISPATCH dispatch_cleanup;
DRIVER_DISPATCH dispatch_close;

// IRP_MJ_DEVICE_CONTROL for every device of the driver (the adapter's FDO and StorPort's LUN PDOs):
// the channel's IOCTL sent to an adapter is vstor's, at PASSIVE_LEVEL in the service's thread.
NTSTATUS NTAPI dispatch_device_control(PDEVICE_OBJECT device, PIRP irp) {
    if (VsIrpIoControlCode(irp) == VSTOR_BRIDGE_IOCTL) {
        if (Adapter* a = find_adapter(is_fdo, device)) return serve_channel(a, irp);
    }
    return g_port_device_control(device, irp);
}

// What IRP_MJ_CLEANUP of one handle did to the adapter it belongs to.
struct Released {
    PDEVICE_OBJECT device;
    PVOID file;
    PIRP irps[kIrpBatch];
    ULONG n;
    bool bus_change;
};

void remember_closed(Adapter* a, PVOID file) {
    if (file_closed(a, file)) return;
    if (a->closed_count == kMaxClosedFiles) {
        // Full (handles closed and never freed): the oldest goes; an operation still in flight on
        // it would be served, as before this list existed.
        for (ULONG i = 1; i < kMaxClosedFiles; ++i) a->closed_files[i - 1] = a->closed_files[i];
        --a->closed_count;
    }
    a->closed_files[a->closed_count++] = file;
}

// The service's handle `file` is closed: takes out every IRP parked on it (their threads may live
// on, so nobody else would complete them) and, when the session was CONNECTed on it, ends the
// session as a dead service's (its SRBs fail with NO_DEVICE, its LUNs go). Remembers the handle as
// closed, so an operation still in flight on it (a CONNECT, a TRANSACT) is refused rather than
// making a session or parking an IRP nobody would end. Lock held.
bool release_file(Adapter* a, void* context) {
    auto* r = static_cast<Released*>(context);
    if (a->fdo != r->device) return false;
    remember_closed(a, r->file);
    const ULONG before = a->stats.bus_changes;
    if (a->liveness != nullptr && VsIrpFileObject(a->liveness) == r->file &&
        IoSetCancelRoutine(a->liveness, nullptr) != nullptr) {
        finish_irp(a->liveness, STATUS_CANCELLED, 0);
        r->irps[r->n++] = a->liveness;
        a->liveness = nullptr;
    }
    for (ULONG i = a->parked_count; i-- > 0 && r->n < kIrpBatch;) {
        PIRP irp = a->parked[i];
        if (VsIrpFileObject(irp) != r->file || IoSetCancelRoutine(irp, nullptr) == nullptr) continue;
        a->parked[i] = a->parked[--a->parked_count];
        finish_irp(irp, STATUS_CANCELLED, 0);
        r->irps[r->n++] = irp;
    }
    if (a->connected && a->owner_file == r->file) {
        if (drop_service(a)) ++a->stats.bus_changes;
        r->n += unpark_all(a, r->irps + r->n, kIrpBatch - r->n, STATUS_DEVICE_NOT_CONNECTED);
    }
    r->bus_change = a->stats.bus_changes != before;
    return true;
}

// IRP_MJ_CLEANUP (PASSIVE_LEVEL): the last handle to a file object on the adapter is closed.
// StorPort does not pass it to the miniport, and the I/O manager cancels pending IRPs only when
// their thread exits, so without this a service that closed its handle but kept its threads
// would keep its IRPs parked and its session alive, with nobody serving the SRBs.
NTSTATUS NTAPI dispatch_cleanup(PDEVICE_OBJECT device, PIRP irp) {
    Released r{device, VsIrpFileObject(irp), {}, 0, false};
    Adapter* a = r.file != nullptr ? find_adapter(release_file, &r) : nullptr;
    if (a != nullptr) {
        complete_service_irps(a, r.irps, r.n);
        if (r.bus_change) VsBusChangeDetected(a, 0);
    }
    return g_port_cleanup(device, irp);  // StorPort's own cleanup, which completes the IRP
}

struct Forget {
    PDEVICE_OBJECT device;
    PVOID file;
};

// The file object is about to be freed (its address may be reused): it leaves the closed list.
bool forget_file(Adapter* x, void* context) {
    auto* f = static_cast<Forget*>(context);
    if (x->fdo != f->device) return false;
    for (ULONG i = 0; i < x->closed_count; ++i)
        if (x->closed_files[i] == f->file) {
            x->closed_files[i] = x->closed_files[--x->closed_count];
            break;
        }
    return true;
}

// IRP_MJ_CLOSE (PASSIVE_LEVEL): the last reference to a file object is gone, so no IRP of it is in
// flight any more.
NTSTATUS NTAPI dispatch_close(PDEVICE_OBJECT device, PIRP irp) {
    Forget f{device, VsIrpFileObject(irp)};
    if (f.file != nullptr) find_adapter(forget_file, &f);
    return g_port_close(device, irp);
}

void chain(PDRIVER_OBJECT driver, UCHAR major, PDRIVER_DISPATCH mine, PDRIVER_DISPATCH* port) {
    PDRIVER_DISPATCH* slot = &driver->MajorFunction[major];
    if (*slot == mine) return;  // already chained: never call ourselves as StorPort
    *port = *slot;
    *slot = mine;
}

}  // namespace

bool file_closed(Adapter* a, PVOID file) {
    for (ULONG i = 0; i < a->closed_count; ++i)
        if (a->closed_files[i] == file) return true;
    return false;
}

void chain_dispatch_routines(PDRIVER_OBJECT driver) {
    chain(driver, IRP_MJ_DEVICE_CONTROL, dispatch_device_control, &g_port_device_control);
    chain(driver, IRP_MJ_CLEANUP, dispatch_cleanup, &g_port_cleanup);
    chain(driver, IRP_MJ_CLOSE, dispatch_close, &g_port_close);
}

}  // namespace vs
