// The channel to the user-mode service: one METHOD_OUT_DIRECT IOCTL (VSTOR_BRIDGE_IOCTL) taken by
// the driver's own IRP_MJ_DEVICE_CONTROL routine at PASSIVE_LEVEL in the service's thread. The
// input (the operation) is in the IRP's system buffer; the output is the service's own buffer, the
// IRP's MDL. One function per operation; the session belongs to the process that CONNECTed.
#include "miniport.h"

namespace vs {
namespace {

// What one service request did, for serve_channel to finish after the lock is dropped.
struct Outcome {
    NTSTATUS status = STATUS_SUCCESS;
    ULONG_PTR info = 0;
    bool parked = false;      // the IRP waits in the driver: not completed now
    bool bus_change = false;  // raise BusChangeDetected
    PIRP extra[kIrpBatch];    // other service IRPs to complete (a replaced or ended session's)
    ULONG nextra = 0;
    bool data_in = false;            // `reply` carries data-in to copy outside the lock
    bool park_after_copy = false;    // next_or_park once the data-in is copied
    vstor_bridge_completion reply;
};

// A channel request's buffers and who sent it.
struct Call {
    PIRP irp;
    const UCHAR* in;  // the system buffer: the operation
    ULONG in_len;
    UCHAR* out;       // the service's buffer (MDL), mapped
    ULONG out_len;
    ULONG pid;
    vstor_bridge_header h;
};

// CONNECT: start a session for the calling process (or replace its own). Lock held.
void op_connect(Adapter* a, const Call& k, Outcome& o) {
    vstor_bridge_connect c;
    if (k.in_len < sizeof(c) || k.out_len < sizeof(vstor_bridge_connect_reply)) {
        o.status = STATUS_BUFFER_TOO_SMALL;
        return;
    }
    RtlCopyMemory(&c, k.in, sizeof(c));
    if (c.buffer_size < VSTOR_TRANSACT_MIN_BUFFER) {
        o.status = STATUS_BUFFER_TOO_SMALL;
        return;
    }
    if (a->connected && a->owner_pid != k.pid) {
        // Another process serves the adapter. It loses the session only by going away (its
        // liveness IRP is cancelled, or the watchdog finds it silent), by DISCONNECT, or by
        // removal: never because someone else asked.
        o.status = STATUS_DEVICE_BUSY;
        return;
    }
    // The same process reconnecting (a restarted service loop) replaces its session.
    if (a->connected) {
        o.bus_change = drop_service(a);
        o.nextra = unpark_all(a, o.extra, kIrpBatch, STATUS_DEVICE_NOT_CONNECTED);
    }
    a->session = new_session_id(a);
    a->owner_pid = k.pid;
    a->owner_file = VsIrpFileObject(k.irp);
    a->connected = TRUE;
    a->last_service_tick = a->tick;
    vstor_bridge_connect_reply r;
    RtlZeroMemory(&r, sizeof(r));
    write_header(&r.hdr, VSTOR_OP_CONNECT, a->session);
    r.session = a->session;
    r.max_transfer = VSTOR_BRIDGE_MAX_TRANSFER;
    r.max_outstanding = kMaxSlots;
    r.min_buffer_size = VSTOR_TRANSACT_MIN_BUFFER;
    r.max_targets = VSTOR_BRIDGE_MAX_TARGETS;
    r.max_luns = VSTOR_BRIDGE_MAX_LUNS;
    RtlCopyMemory(k.out, &r, sizeof(r));
    o.info = sizeof(r);
}

// LUN: a LUN announced present or absent. Lock held.
void op_lun(Adapter* a, const Call& k, Outcome& o) {
    vstor_bridge_lun l;
    if (k.in_len < sizeof(l)) {
        o.status = STATUS_INVALID_PARAMETER;
        return;
    }
    RtlCopyMemory(&l, k.in, sizeof(l));
    if (l.path_id != 0 || l.target_id >= VSTOR_BRIDGE_MAX_TARGETS || l.lun >= VSTOR_BRIDGE_MAX_LUNS) {
        o.status = STATUS_INVALID_PARAMETER;
        return;
    }
    const UCHAR now = l.present ? 1 : 0;
    if (a->lun_present[l.target_id][l.lun] == now) return;
    a->lun_present[l.target_id][l.lun] = now;
    if (!now) abort_matching(a, 0, l.target_id, l.lun, SRB_STATUS_NO_DEVICE);
    o.bus_change = true;
}

// The next request into the TRANSACT's buffer, or "none" (VSTOR_FLAG_NO_WAIT), or park the IRP
// until there is one. Lock held.
void next_or_park(Adapter* a, const Call& k, Outcome& o) {
    if (fill_next(a, k.irp)) {
        o.status = k.irp->IoStatus.Status;
        o.info = k.irp->IoStatus.Information;
    } else if (k.h.flags & VSTOR_FLAG_NO_WAIT) {
        auto* req = reinterpret_cast<vstor_bridge_request*>(k.out + sizeof(vstor_bridge_header));
        write_header(reinterpret_cast<vstor_bridge_header*>(k.out), VSTOR_OP_TRANSACT, a->session);
        RtlZeroMemory(req, sizeof(*req));
        req->kind = VSTOR_REQ_NONE;
        o.info = VSTOR_TRANSACT_OUT_DATA_OFFSET;
    } else {
        o.parked = park(a, k.irp);
        if (!o.parked) o.status = k.irp->IoStatus.Status;
    }
}

// TRANSACT: apply the completion it carries, then hand back the next request (next_or_park). Lock held.
void op_transact(Adapter* a, const Call& k, Outcome& o) {
    a->last_service_tick = a->tick;
    const bool no_wait = (k.h.flags & VSTOR_FLAG_NO_WAIT) != 0;
    // A parked IRP may be handed any request: its buffer must hold the largest. A NO_WAIT one is
    // handed only what fits (fill_next).
    if (k.out_len < (no_wait ? VSTOR_TRANSACT_OUT_DATA_OFFSET : VSTOR_TRANSACT_MIN_BUFFER)) {
        o.status = STATUS_BUFFER_TOO_SMALL;
        return;
    }
    if (k.h.flags & VSTOR_FLAG_HAS_COMPLETION)
        o.status = apply_completion(a, k.in, k.in_len, k.out_len, &o.reply, &o.data_in);
    if (o.status != STATUS_SUCCESS) return;
    // The reply's data-in is copied out of the buffer after the lock is dropped. A request written
    // now lands before it (header and request end at VSTOR_TRANSACT_OUT_DATA_OFFSET; the data-out
    // is copied after the data-in), but an IRP parked now could be completed by another thread
    // with a data-out over the data-in: such an IRP parks only after the copy (park_after_copy).
    if (o.data_in && !no_wait) {
        o.park_after_copy = true;
        return;
    }
    next_or_park(a, k, o);
}

// Checks who is asking (the session belongs to one process) and runs the operation. Lock held.
void run_op(Adapter* a, const Call& k, Outcome& o) {
    const vstor_bridge_header& h = k.h;
    if (h.magic != VSTOR_BRIDGE_MAGIC || h.version != VSTOR_BRIDGE_VERSION) {
        o.status = STATUS_REVISION_MISMATCH;
    } else if (a->removed) {
        o.status = STATUS_DEVICE_REMOVED;
    } else if (file_closed(a, VsIrpFileObject(k.irp))) {
        o.status = STATUS_FILE_CLOSED;  // in flight when its handle's IRP_MJ_CLEANUP ran: it is over
    } else if (h.op == VSTOR_OP_CONNECT) {
        op_connect(a, k, o);
    } else if (a->connected && k.pid != a->owner_pid) {
        o.status = STATUS_ACCESS_DENIED;  // not the process that holds the session
    } else if (!a->connected || h.session != a->session) {
        o.status = STATUS_DEVICE_NOT_CONNECTED;  // an IRP from a service that was replaced or dropped
    } else if (h.op == VSTOR_OP_DISCONNECT) {
        o.bus_change = drop_service(a);
        o.nextra = unpark_all(a, o.extra, kIrpBatch, STATUS_DEVICE_NOT_CONNECTED);
    } else if (h.op == VSTOR_OP_HOLD) {
        o.parked = park(a, k.irp, true);
        if (!o.parked) o.status = k.irp->IoStatus.Status;
    } else if (h.op == VSTOR_OP_LUN) {
        op_lun(a, k, o);
    } else if (h.op == VSTOR_OP_TRANSACT) {
        op_transact(a, k, o);
    } else {
        o.status = STATUS_INVALID_PARAMETER;
    }
}

}  // namespace

NTSTATUS serve_channel(Adapter* a, PIRP irp) {
    // Marked first: once parked (under the lock) the IRP may be completed by HwStartIo's thread
    // before this routine returns, so it must already be pending. STATUS_PENDING is returned always.
    IoMarkIrpPending(irp);
    Call k{irp, static_cast<const UCHAR*>(irp->AssociatedIrp.SystemBuffer), VsIrpInputLength(irp),
           out_buffer(irp), VsIrpOutputLength(irp), 0, {}};
    if (k.in == nullptr || k.in_len < sizeof(k.h) || k.out == nullptr) {
        finish_irp(irp, k.out == nullptr && irp->MdlAddress != nullptr ? STATUS_INSUFFICIENT_RESOURCES
                                                                        : STATUS_INVALID_PARAMETER, 0);
        complete_irp(irp);
        return STATUS_PENDING;
    }
    RtlCopyMemory(&k.h, k.in, sizeof(k.h));
    k.pid = IoGetRequestorProcessId(irp);  // the dispatch routine runs in the sender's thread
    Outcome o;
    {
        Locked lock(a);
        run_op(a, k, o);
        if (o.bus_change) ++a->stats.bus_changes;
    }
    if (o.data_in) copy_data_in(a, k.out, o.reply);
    if (o.park_after_copy) {
        vs::Locked lock(a);
        if (a->connected && a->session == k.h.session && !a->removed) next_or_park(a, k, o);
        else o.status = STATUS_DEVICE_NOT_CONNECTED;
    }
    if (!o.parked) {
        finish_irp(irp, o.status, NT_SUCCESS(o.status) ? o.info : 0);
        copy_data_out(a, irp);
        complete_irp(irp);
    }
    complete_service_irps(a, o.extra, o.nextra);
    if (o.bus_change) VsBusChangeDetected(a, 0);
    return STATUS_PENDING;
}

}  // namespace vs

using vs::Adapter;

// StorPort's own service IRP (IOCTL_MINIPORT_PROCESS_SERVICE_IRP, METHOD_BUFFERED) was protocol 1's
// channel; protocol 2 has its own direct-I/O IOCTL (service_channel above). An old service is told so.
extern "C" VOID VS_API VsHwProcessServiceRequest(PVOID DeviceExtension, PVOID IrpPtr) {
    auto* irp = static_cast<PIRP>(IrpPtr);
    const auto* buf = static_cast<const UCHAR*>(irp->AssociatedIrp.SystemBuffer);
    vstor_bridge_header h;
    NTSTATUS status = STATUS_INVALID_DEVICE_REQUEST;
    if (VsIrpIoControlCode(irp) == VSTOR_BRIDGE_IOCTL_STORPORT && buf != nullptr && VsIrpInputLength(irp) >= sizeof(h)) {
        RtlCopyMemory(&h, buf, sizeof(h));
        if (h.magic == VSTOR_BRIDGE_MAGIC) status = STATUS_REVISION_MISMATCH;
    }
    vs::finish_irp(irp, status, 0);
    StorPortCompleteServiceIrp(DeviceExtension, irp);
}

// StorPort removes the adapter: every parked service IRP must be completed now.
extern "C" VOID VS_API VsHwCompleteServiceIrp(PVOID DeviceExtension) {
    auto* a = static_cast<Adapter*>(DeviceExtension);
    PIRP irps[vs::kIrpBatch];
    ULONG n = 0;
    {
        vs::Locked lock(a);
        a->removed = TRUE;
        if (a->connected) vs::drop_service(a);
        n = vs::unpark_all(a, irps, vs::kIrpBatch, STATUS_DEVICE_REMOVED);
    }
    vs::complete_service_irps(a, irps, n);
}
