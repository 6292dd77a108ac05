// Service IRPs parked in the driver: parking them cancel-safe, handing them work, taking them out
// for completion, their cancel routine, and the driver's list of adapters they are found through.
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
// storing anything in the IRP, and a dispatch routine the one a device object belongs to.
// Zero-initialised, which is a valid KSPIN_LOCK. Lock order: registry, adapter.
constexpr ULONG kMaxAdapters = 16;
struct Registry {
    KSPIN_LOCK lock;
    Adapter* adapters[kMaxAdapters];
};
Registry g_registry;

// What the cancel routine did to the adapter holding the IRP (found under its lock).
struct Cancelled {
    PIRP irp;
    bool bus_change;
    PIRP others[kIrpBatch];
    ULONG nothers;
};

// The adapter holding `irp` takes it out (lock held). A cancelled work IRP: a live service
// re-posts at once, a dying one does not (the watchdog decides). A cancelled liveness IRP: the
// service process is gone, now.
bool take_cancelled(Adapter* x, void* context) {
    auto* c = static_cast<Cancelled*>(context);
    const bool held = x->liveness == c->irp;
    if (!held && !unpark(x, c->irp)) return false;
    if (held) {
        x->liveness = nullptr;
        if (x->connected && x->session == x->liveness_session) {
            c->bus_change = drop_service(x);
            if (c->bus_change) ++x->stats.bus_changes;
            c->nothers = unpark_all(x, c->others, kIrpBatch, STATUS_DEVICE_NOT_CONNECTED);
        }
    }
    return true;
}

VOID NTAPI cancel_parked(PDEVICE_OBJECT, PIRP irp) {
    IoReleaseCancelSpinLock(irp->CancelIrql);
    // The cancel routine owns the IRP: whoever finds its cancel routine already gone leaves it in
    // its list for us (dispatch_parked, unpark_all), so it is always found here.
    Cancelled c{irp, false, {}, 0};
    Adapter* a = find_adapter(take_cancelled, &c);
    if (a == nullptr) return;  // cannot happen: a parked IRP stays listed until this routine runs
    finish_irp(irp, STATUS_CANCELLED, 0);
    complete_irp(irp);
    complete_service_irps(a, c.others, c.nothers);
    if (c.bus_change) VsBusChangeDetected(a, 0);
}

}  // namespace

Adapter* find_adapter(bool (*visit)(Adapter* a, void* context), void* context) {
    Adapter* found = nullptr;
    KLOCK_QUEUE_HANDLE registry;
    KeAcquireInStackQueuedSpinLock(&g_registry.lock, &registry);
    for (ULONG i = 0; i < kMaxAdapters && found == nullptr; ++i) {
        Adapter* x = g_registry.adapters[i];
        if (x == nullptr) continue;
        Locked lock(x);
        if (visit(x, context)) found = x;
    }
    KeReleaseInStackQueuedSpinLock(&registry);
    return found;
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
        complete_irp(irps[i]);
    }
}

}  // namespace vs
