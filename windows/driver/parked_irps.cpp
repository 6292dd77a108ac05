// Service IRPs parked in the driver: parking them cancel-safe, handing them work, taking them out
// for completion, their cancel routine, and IRP_MJ_CLEANUP of the service's handle (chained in
// front of StorPort's), which returns the IRPs parked on that handle and ends its session.
#include "miniport.h"

namespace vs {
namespace {

// Take `irp` out of the parked list if it is there (lock held). False when it is not there.
bool unpark(Adapter* a, PIRP irp) {
    for (ULONG i = 0; i < a->parked_count; ++i) {
        if (a->parked[i] != irp) continue;
        a->parked[i] = a->parked[--a->parked_count];
        return true;
    }
    return false;
}

// Every adapter of this driver, so that a cancel routine can find the one holding an IRP without
// storing anything in the IRP: Tail.Overlay.DriverContext belongs to the IRP's owner, StorPort
// (docs/windows.md). Zero-initialised, which is a valid KSPIN_LOCK. Lock order: registry, adapter.
constexpr ULONG kMaxAdapters = 16;
struct Registry {
    KSPIN_LOCK lock;
    Adapter* adapters[kMaxAdapters];
};
Registry g_registry;

VOID NTAPI cancel_parked(PDEVICE_OBJECT, PIRP irp) {
    IoReleaseCancelSpinLock(irp->CancelIrql);
    Adapter* a = nullptr;
    bool bus_change = false;
    PIRP others[kIrpBatch];
    ULONG nothers = 0;
    {
        // The cancel routine owns the IRP: whoever finds its cancel routine already gone leaves it
        // in its list for us (dispatch_parked, unpark_all), so it is always found here.
        KLOCK_QUEUE_HANDLE registry;
        KeAcquireInStackQueuedSpinLock(&g_registry.lock, &registry);
        for (ULONG i = 0; i < kMaxAdapters && a == nullptr; ++i) {
            Adapter* x = g_registry.adapters[i];
            if (x == nullptr) continue;
            Locked lock(x);
            const bool held = x->liveness == irp;
            if (!held && !unpark(x, irp)) continue;
            a = x;
            // A cancelled work IRP: a live service re-posts at once, a dying one does not (the
            // watchdog decides). A cancelled liveness IRP: the service process is gone, now.
            if (held) {
                x->liveness = nullptr;
                if (x->connected && x->session == x->liveness_session) {
                    bus_change = drop_service(x);
                    if (bus_change) ++x->stats.bus_changes;
                    nothers = unpark_all(x, others, kIrpBatch, STATUS_DEVICE_NOT_CONNECTED);
                }
            }
        }
        KeReleaseInStackQueuedSpinLock(&registry);
    }
    if (a == nullptr) return;  // cannot happen: a parked IRP stays listed until this routine runs
    finish_irp(irp, STATUS_CANCELLED, 0);
    StorPortCompleteServiceIrp(a, irp);
    complete_service_irps(a, others, nothers);
    if (bus_change) VsBusChangeDetected(a, 0);
}

// StorPort's IRP_MJ_CLEANUP routine, run after vstor's (chain_cleanup). Never null on Windows: the
// I/O manager fills every dispatch entry before DriverEntry, and StorPortInitialize sets its own.
PDRIVER_DISPATCH g_port_cleanup;

// The service's handle `file` is closed: takes out every IRP parked on it (their threads may live
// on, so nobody else would complete them) and, when the session was CONNECTed on it, ends the
// session as a dead service's (its SRBs fail with NO_DEVICE, its LUNs go). Lock held.
ULONG release_file(Adapter* a, PVOID file, PIRP* out, ULONG out_cap, bool* session_ended) {
    ULONG n = 0;
    if (a->liveness != nullptr && VsIrpFileObject(a->liveness) == file &&
        IoSetCancelRoutine(a->liveness, nullptr) != nullptr) {
        finish_irp(a->liveness, STATUS_CANCELLED, 0);
        out[n++] = a->liveness;
        a->liveness = nullptr;
    }
    for (ULONG i = a->parked_count; i-- > 0 && n < out_cap;) {
        PIRP irp = a->parked[i];
        if (VsIrpFileObject(irp) != file || IoSetCancelRoutine(irp, nullptr) == nullptr) continue;
        a->parked[i] = a->parked[--a->parked_count];
        finish_irp(irp, STATUS_CANCELLED, 0);
        out[n++] = irp;
    }
    *session_ended = a->connected && a->owner_file == file;
    if (*session_ended) {
        if (drop_service(a)) ++a->stats.bus_changes;
        n += unpark_all(a, out + n, out_cap - n, STATUS_DEVICE_NOT_CONNECTED);
    }
    return n;
}

DRIVER_DISPATCH dispatch_cleanup;  // NTAPI: stdcall on x86, like every dispatch routine

// IRP_MJ_CLEANUP (PASSIVE_LEVEL): the last handle to a file object on the adapter is closed.
// StorPort does not pass it to the miniport, and the I/O manager cancels pending IRPs only when
// their thread exits, so without this a service that closed its handle but kept its threads
// would keep its IRPs parked and its session alive, with nobody serving the SRBs.
NTSTATUS NTAPI dispatch_cleanup(PDEVICE_OBJECT device, PIRP irp) {
    PVOID file = VsIrpFileObject(irp);
    Adapter* a = nullptr;
    PIRP irps[kIrpBatch];
    ULONG n = 0;
    bool bus_change = false;
    if (file != nullptr) {
        KLOCK_QUEUE_HANDLE registry;
        KeAcquireInStackQueuedSpinLock(&g_registry.lock, &registry);
        for (ULONG i = 0; i < kMaxAdapters && a == nullptr; ++i) {
            Adapter* x = g_registry.adapters[i];
            if (x == nullptr) continue;
            Locked lock(x);
            bool ended = false;
            const ULONG before = x->stats.bus_changes;
            n = release_file(x, file, irps, kIrpBatch, &ended);
            if (n != 0 || ended) a = x;
            bus_change = x->stats.bus_changes != before;
        }
        KeReleaseInStackQueuedSpinLock(&registry);
    }
    if (a != nullptr) {
        complete_service_irps(a, irps, n);
        if (bus_change) VsBusChangeDetected(a, 0);
    }
    return g_port_cleanup(device, irp);  // StorPort's own cleanup, which completes the IRP
}

}  // namespace

void chain_cleanup(PDRIVER_OBJECT driver) {
    PDRIVER_DISPATCH* slot = &driver->MajorFunction[IRP_MJ_CLEANUP];
    if (*slot == dispatch_cleanup) return;  // already chained: never call ourselves as StorPort
    g_port_cleanup = *slot;
    *slot = dispatch_cleanup;
}

// Returns true when the IRP was parked (not to be completed now). `liveness`: park it as the
// session's liveness IRP rather than as a work IRP.
bool park(Adapter* a, PIRP irp, bool liveness) {
    if (liveness ? a->liveness != nullptr : a->parked_count == kMaxParked) {
        finish_irp(irp, STATUS_DEVICE_BUSY, 0);
        return false;
    }
    IoSetCancelRoutine(irp, cancel_parked);
    if (irp->Cancel && IoSetCancelRoutine(irp, nullptr) != nullptr) {
        finish_irp(irp, STATUS_CANCELLED, 0);  // cancelled before the routine was set
        return false;
    }
    if (liveness) {
        a->liveness = irp;
        a->liveness_session = a->session;
    } else {
        a->parked[a->parked_count++] = irp;
    }
    return true;
}

// An IRP whose cancel routine is already gone is being cancelled: it stays listed for its cancel
// routine, which finds it there, takes it out and completes it (it always does).
ULONG dispatch_parked(Adapter* a, PIRP* out, ULONG out_cap) {
    ULONG n = 0;
    for (ULONG i = a->parked_count; i-- > 0 && n < out_cap && (a->notice_count != 0 || a->queue_head != kNone);) {
        PIRP irp = a->parked[i];
        if (IoSetCancelRoutine(irp, nullptr) == nullptr) continue;
        a->parked[i] = a->parked[--a->parked_count];
        fill_next(a, irp);
        out[n++] = irp;
    }
    return n;
}

ULONG unpark_all(Adapter* a, PIRP* out, ULONG out_cap, NTSTATUS status) {
    ULONG n = 0;
    if (a->liveness != nullptr && n < out_cap && IoSetCancelRoutine(a->liveness, nullptr) != nullptr) {
        finish_irp(a->liveness, status, 0);
        out[n++] = a->liveness;
        a->liveness = nullptr;
    }
    for (ULONG i = a->parked_count; i-- > 0 && n < out_cap;) {
        PIRP irp = a->parked[i];
        if (IoSetCancelRoutine(irp, nullptr) == nullptr) continue;
        a->parked[i] = a->parked[--a->parked_count];
        finish_irp(irp, status, 0);
        out[n++] = irp;
    }
    return n;
}

bool register_adapter(Adapter* a) {
    KLOCK_QUEUE_HANDLE h;
    KeAcquireInStackQueuedSpinLock(&g_registry.lock, &h);
    bool done = false;
    for (ULONG i = 0; i < kMaxAdapters && !done; ++i)
        if (g_registry.adapters[i] == nullptr) {
            g_registry.adapters[i] = a;
            done = true;
        }
    KeReleaseInStackQueuedSpinLock(&h);
    return done;
}

void unregister_adapter(Adapter* a) {
    KLOCK_QUEUE_HANDLE h;
    KeAcquireInStackQueuedSpinLock(&g_registry.lock, &h);
    for (ULONG i = 0; i < kMaxAdapters; ++i)
        if (g_registry.adapters[i] == a) g_registry.adapters[i] = nullptr;
    KeReleaseInStackQueuedSpinLock(&h);
}

void complete_service_irps(Adapter* a, PIRP* irps, ULONG n) {
    for (ULONG i = 0; i < n; ++i) {
        copy_data_out(a, irps[i]);  // a request handed to a parked IRP (dispatch_parked)
        StorPortCompleteServiceIrp(a, irps[i]);
    }
}

}  // namespace vs
