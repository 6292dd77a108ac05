// The inverted-call channel to the user-mode service (IOCTL_MINIPORT_PROCESS_SERVICE_IRP, handed
// to HwProcessServiceRequest at PASSIVE_LEVEL). Every reply is validated before it touches an SRB:
// the tag must name a slot the service holds, lengths must fit both the SRB and the IRP buffer.
#include "miniport.h"

namespace vs {
namespace {

constexpr ULONG kInData = VSTOR_TRANSACT_IN_DATA_OFFSET;
constexpr ULONG kOutData = VSTOR_TRANSACT_OUT_DATA_OFFSET;

void write_header(vstor_bridge_header* h, ULONG op, ULONG session) {
    h->magic = VSTOR_BRIDGE_MAGIC;
    h->version = VSTOR_BRIDGE_VERSION;
    h->op = static_cast<uint16_t>(op);
    h->session = session;
    h->flags = 0;
}

}  // namespace

bool fill_next(Adapter* a, PIRP irp) {
    auto* buf = static_cast<UCHAR*>(irp->AssociatedIrp.SystemBuffer);
    auto* hdr = reinterpret_cast<vstor_bridge_header*>(buf);
    auto* req = reinterpret_cast<vstor_bridge_request*>(buf + sizeof(vstor_bridge_header));
    if (a->notice_count != 0) {
        const Notice& n = a->notices[a->notice_head];
        a->notice_head = (a->notice_head + 1) % kMaxNotices;
        --a->notice_count;
        write_header(hdr, VSTOR_OP_TRANSACT, a->session);
        RtlZeroMemory(req, sizeof(*req));
        req->kind = n.kind;
        req->path_id = n.path;
        req->target_id = n.target;
        req->lun = n.lun;
        finish_irp(irp, STATUS_SUCCESS, kOutData);
        return true;
    }
    if (a->queue_head == kNone) return false;
    const USHORT idx = a->queue_head;
    Slot& s = a->slots[idx];
    a->queue_head = s.next;
    if (a->queue_head == kNone) a->queue_tail = kNone;
    s.next = kNone;
    s.state = kSlotSent;
    --a->queued_count;
    ++a->sent_count;

    PSCSI_REQUEST_BLOCK srb = s.srb;
    write_header(hdr, VSTOR_OP_TRANSACT, a->session);
    RtlZeroMemory(req, sizeof(*req));
    req->tag = (static_cast<uint64_t>(s.generation) << 32) | idx;
    req->kind = VSTOR_REQ_SCSI;
    req->path_id = s.path;
    req->target_id = s.target;
    req->lun = s.lun;
    req->cdb_length = srb->CdbLength;
    req->direction = s.direction;
    req->attribute = srb->QueueAction == SRB_HEAD_OF_QUEUE_TAG_REQUEST ? VSTOR_ATTR_HEAD_OF_QUEUE
                     : srb->QueueAction == SRB_ORDERED_QUEUE_TAG_REQUEST ? VSTOR_ATTR_ORDERED
                                                                        : VSTOR_ATTR_SIMPLE;
    req->data_length = s.transfer_length;
    req->timeout_s = srb->TimeOutValue;
    RtlCopyMemory(req->cdb, srb->Cdb, srb->CdbLength);
    // The data-out itself is copied by copy_data_out, outside the lock.
    const ULONG info = kOutData + (s.direction == VSTOR_DIR_OUT ? s.transfer_length : 0);
    finish_irp(irp, STATUS_SUCCESS, info);
    return true;
}

void copy_data_out(Adapter* a, PIRP irp) {
    if (!NT_SUCCESS(irp->IoStatus.Status) || irp->IoStatus.Information <= kOutData) return;
    auto* buf = static_cast<UCHAR*>(irp->AssociatedIrp.SystemBuffer);
    vstor_bridge_header h;
    vstor_bridge_request r;
    RtlCopyMemory(&h, buf, sizeof(h));
    RtlCopyMemory(&r, buf + sizeof(h), sizeof(r));
    if (h.op != VSTOR_OP_TRANSACT || r.kind != VSTOR_REQ_SCSI || r.direction != VSTOR_DIR_OUT) return;
    const ULONG length = static_cast<ULONG>(irp->IoStatus.Information) - kOutData;
    SlotData d(a, static_cast<ULONG>(r.tag & 0xFFFFFFFFu), static_cast<ULONG>(r.tag >> 32), kSlotSent);
    if (d.slot() != nullptr && length <= d.slot()->transfer_length) {
        RtlCopyMemory(buf + kOutData, d.slot()->buffer, length);
    } else {
        RtlZeroMemory(buf + kOutData, length);
    }
}

namespace {

// The service's reply to slot `idx` (lock held): frees the slot and completes its SRB. Data-in,
// if any, is already in the SRB's buffer.
void finish_reply(Adapter* a, ULONG idx, const vstor_bridge_completion& c) {
    Slot& s = a->slots[idx];
    PSCSI_REQUEST_BLOCK srb = s.srb;
    const ULONG transfer_length = s.transfer_length;
    --a->sent_count;
    free_slot(a, static_cast<USHORT>(idx));
    UCHAR status = SRB_STATUS_ERROR;
    switch (c.result) {
        case VSTOR_RESULT_OK: {
            srb->ScsiStatus = c.scsi_status;
            if (c.scsi_status == 0x00 /* GOOD */ || c.scsi_status == 0x04 /* CONDITION MET */) {
                // A short transfer is reported as DATA_OVERRUN with the real length (StorPort's underrun).
                status = c.data_length < transfer_length ? SRB_STATUS_DATA_OVERRUN : SRB_STATUS_SUCCESS;
            } else {
                status = SRB_STATUS_ERROR;
                if (c.sense_length != 0 && srb->SenseInfoBuffer != nullptr && srb->SenseInfoBufferLength != 0 &&
                    !(srb->SrbFlags & SRB_FLAGS_DISABLE_AUTOSENSE)) {
                    const UCHAR n = c.sense_length < srb->SenseInfoBufferLength ? c.sense_length
                                                                                : srb->SenseInfoBufferLength;
                    RtlCopyMemory(srb->SenseInfoBuffer, c.sense, n);
                    srb->SenseInfoBufferLength = n;
                    status |= SRB_STATUS_AUTOSENSE_VALID;
                }
            }
            srb->DataTransferLength = c.data_length;
            break;
        }
        case VSTOR_RESULT_NO_DEVICE: status = SRB_STATUS_NO_DEVICE; srb->DataTransferLength = 0; break;
        case VSTOR_RESULT_ABORTED: status = SRB_STATUS_ABORTED; srb->DataTransferLength = 0; break;
        default: status = SRB_STATUS_ERROR; srb->DataTransferLength = 0; break;
    }
    complete_srb(a, srb, status);
}

// Apply a completion from the service. Lock held. Returns STATUS_SUCCESS (applied or stale) or
// an error for a malformed reply (the named SRB, if any, is failed so it cannot hang). A reply
// carrying data-in is left in `*reply` with its slot kSlotReplying: the caller copies the data
// outside the lock (copy_data_in) and then finishes it.
NTSTATUS apply_completion(Adapter* a, const UCHAR* buf, ULONG in_len, vstor_bridge_completion* reply,
                          bool* data_in) {
    if (in_len < kInData) return STATUS_INVALID_PARAMETER;
    vstor_bridge_completion& c = *reply;
    RtlCopyMemory(&c, buf + sizeof(vstor_bridge_header), sizeof(c));  // one read of user-written data
    const ULONG idx = static_cast<ULONG>(c.tag & 0xFFFFFFFFu);
    const ULONG gen = static_cast<ULONG>(c.tag >> 32);
    if (idx >= kMaxSlots) {
        ++a->stats.rejected_replies;
        return STATUS_INVALID_PARAMETER;
    }
    Slot& s = a->slots[idx];
    if (s.state != kSlotSent || s.generation != gen) {
        ++a->stats.stale_replies;  // completed meanwhile by a reset, an abort or a disconnect
        return STATUS_SUCCESS;
    }
    const bool bad = c.result > VSTOR_RESULT_ERROR || c.sense_length > VSTOR_BRIDGE_MAX_SENSE ||
                     c.data_length > s.transfer_length ||
                     (s.direction == VSTOR_DIR_IN && c.data_length > in_len - kInData);
    if (bad) {
        ++a->stats.rejected_replies;
        PSCSI_REQUEST_BLOCK srb = s.srb;
        --a->sent_count;
        free_slot(a, static_cast<USHORT>(idx));
        srb->DataTransferLength = 0;
        complete_srb(a, srb, SRB_STATUS_ERROR);
        return STATUS_INVALID_PARAMETER;
    }
    if (c.result == VSTOR_RESULT_OK && s.direction == VSTOR_DIR_IN && c.data_length != 0) {
        s.state = kSlotReplying;
        *data_in = true;
    } else {
        finish_reply(a, idx, c);
    }
    return STATUS_SUCCESS;
}

// The data-in of a reply apply_completion left kSlotReplying: copied outside the adapter lock
// (under the slot's), then the SRB completes, unless a reset or an abort completed it meanwhile.
void copy_data_in(Adapter* a, const UCHAR* buf, const vstor_bridge_completion& c) {
    const ULONG idx = static_cast<ULONG>(c.tag & 0xFFFFFFFFu);
    const ULONG gen = static_cast<ULONG>(c.tag >> 32);
    {
        SlotData d(a, idx, gen, kSlotReplying);
        if (d.slot() != nullptr) RtlCopyMemory(d.slot()->buffer, buf + kInData, c.data_length);
    }
    Locked lock(a);
    if (a->slots[idx].state == kSlotReplying && a->slots[idx].generation == gen) finish_reply(a, idx, c);
}

}  // namespace

// A session id nobody can guess from the previous one (they were sequential): the cycle counter
// and the adapter's address (randomised by ASLR) through a 64-bit mixer. The id is a second check;
// the first is that only the CONNECTing process is served at all.
ULONG new_session_id(Adapter* a) {
    uint64_t x = __builtin_ia32_rdtsc() ^ (static_cast<uint64_t>(reinterpret_cast<ULONG_PTR>(a)) << 16) ^
                 (static_cast<uint64_t>(++a->session_counter) << 40);
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    const ULONG id = static_cast<ULONG>(x ^ (x >> 32));
    return id != 0 && id != a->session ? id : new_session_id(a);
}

}  // namespace vs

namespace vs {
namespace {

// What one service request did, for VsHwProcessServiceRequest to finish after the lock is dropped.
struct Outcome {
    NTSTATUS status = STATUS_SUCCESS;
    ULONG_PTR info = 0;
    bool parked = false;      // the IRP waits in the driver: not completed now
    bool bus_change = false;  // raise BusChangeDetected
    PIRP extra[kIrpBatch];    // other service IRPs to complete (a replaced or ended session's)
    ULONG nextra = 0;
    bool data_in = false;            // `reply` carries data-in to copy outside the lock
    vstor_bridge_completion reply;
};

// CONNECT: start a session for process `pid` (or replace its own). Lock held.
void op_connect(Adapter* a, PIRP irp, UCHAR* buf, ULONG in_len, ULONG out_len, ULONG pid, Outcome& o) {
    vstor_bridge_connect c;
    if (in_len < sizeof(c) || out_len < sizeof(vstor_bridge_connect_reply)) {
        o.status = STATUS_BUFFER_TOO_SMALL;
        return;
    }
    RtlCopyMemory(&c, buf, sizeof(c));
    if (c.buffer_size < VSTOR_TRANSACT_MIN_BUFFER) {
        o.status = STATUS_BUFFER_TOO_SMALL;
        return;
    }
    if (a->connected && a->owner_pid != pid) {
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
    a->owner_pid = pid;
    a->owner_file = VsIrpFileObject(irp);
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
    RtlCopyMemory(buf, &r, sizeof(r));
    o.info = sizeof(r);
}

// LUN: a LUN announced present or absent. Lock held.
void op_lun(Adapter* a, const UCHAR* buf, ULONG in_len, Outcome& o) {
    vstor_bridge_lun l;
    if (in_len < sizeof(l)) {
        o.status = STATUS_INVALID_PARAMETER;
        return;
    }
    RtlCopyMemory(&l, buf, sizeof(l));
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

// TRANSACT: apply the completion it carries, then hand back the next request, or park the IRP
// until there is one (or answer "none" at once with VSTOR_FLAG_NO_WAIT). Lock held.
void op_transact(Adapter* a, PIRP irp, UCHAR* buf, ULONG in_len, ULONG out_len, ULONG flags, Outcome& o) {
    a->last_service_tick = a->tick;
    if (out_len < VSTOR_TRANSACT_MIN_BUFFER || in_len > out_len) {
        o.status = STATUS_BUFFER_TOO_SMALL;
        return;
    }
    if (flags & VSTOR_FLAG_HAS_COMPLETION) o.status = apply_completion(a, buf, in_len, &o.reply, &o.data_in);
    if (o.status != STATUS_SUCCESS) return;
    if (fill_next(a, irp)) {
        o.status = irp->IoStatus.Status;
        o.info = irp->IoStatus.Information;
    } else if (flags & VSTOR_FLAG_NO_WAIT) {
        auto* req = reinterpret_cast<vstor_bridge_request*>(buf + sizeof(vstor_bridge_header));
        write_header(reinterpret_cast<vstor_bridge_header*>(buf), VSTOR_OP_TRANSACT, a->session);
        RtlZeroMemory(req, sizeof(*req));
        req->kind = VSTOR_REQ_NONE;
        o.info = VSTOR_TRANSACT_OUT_DATA_OFFSET;
    } else {
        o.parked = park(a, irp);
        if (!o.parked) o.status = irp->IoStatus.Status;
    }
}

// Checks who is asking (the session belongs to one process) and runs the operation. Lock held.
void run_op(Adapter* a, PIRP irp, UCHAR* buf, const vstor_bridge_header& h, ULONG pid, Outcome& o) {
    const ULONG in_len = VsIrpInputLength(irp);
    const ULONG out_len = VsIrpOutputLength(irp);
    if (h.magic != VSTOR_BRIDGE_MAGIC || h.version != VSTOR_BRIDGE_VERSION) {
        o.status = STATUS_REVISION_MISMATCH;
    } else if (a->removed) {
        o.status = STATUS_DEVICE_REMOVED;
    } else if (h.op == VSTOR_OP_CONNECT) {
        op_connect(a, irp, buf, in_len, out_len, pid, o);
    } else if (a->connected && pid != a->owner_pid) {
        o.status = STATUS_ACCESS_DENIED;  // not the process that holds the session
    } else if (!a->connected || h.session != a->session) {
        o.status = STATUS_DEVICE_NOT_CONNECTED;  // an IRP from a service that was replaced or dropped
    } else if (h.op == VSTOR_OP_DISCONNECT) {
        o.bus_change = drop_service(a);
        o.nextra = unpark_all(a, o.extra, kIrpBatch, STATUS_DEVICE_NOT_CONNECTED);
    } else if (h.op == VSTOR_OP_HOLD) {
        o.parked = park(a, irp, true);
        if (!o.parked) o.status = irp->IoStatus.Status;
    } else if (h.op == VSTOR_OP_LUN) {
        op_lun(a, buf, in_len, o);
    } else if (h.op == VSTOR_OP_TRANSACT) {
        op_transact(a, irp, buf, in_len, out_len, h.flags, o);
    } else {
        o.status = STATUS_INVALID_PARAMETER;
    }
}

}  // namespace
}  // namespace vs

using vs::Adapter;

extern "C" VOID VS_API VsHwProcessServiceRequest(PVOID DeviceExtension, PVOID IrpPtr) {
    auto* a = static_cast<Adapter*>(DeviceExtension);
    auto* irp = static_cast<PIRP>(IrpPtr);
    auto* buf = static_cast<UCHAR*>(irp->AssociatedIrp.SystemBuffer);
    vstor_bridge_header h;
    if (VsIrpIoControlCode(irp) != VS_IOCTL_MINIPORT_PROCESS_SERVICE_IRP || buf == nullptr ||
        VsIrpInputLength(irp) < sizeof(h)) {
        irp->IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
        irp->IoStatus.Information = 0;
        StorPortCompleteServiceIrp(a, irp);
        return;
    }
    RtlCopyMemory(&h, buf, sizeof(h));
    // HwProcessServiceRequest runs in the sender's thread; the session belongs to one process.
    const ULONG pid = IoGetRequestorProcessId(irp);
    vs::Outcome o;
    {
        vs::Locked lock(a);
        vs::run_op(a, irp, buf, h, pid, o);
        if (o.bus_change) ++a->stats.bus_changes;
    }
    // The reply's data-in first: the next request written into the same buffer (fill_next, and
    // its data-out below) starts at VSTOR_TRANSACT_OUT_DATA_OFFSET, before the data-in's offset.
    if (o.data_in) vs::copy_data_in(a, buf, o.reply);
    if (!o.parked) {
        irp->IoStatus.Status = o.status;
        irp->IoStatus.Information = NT_SUCCESS(o.status) ? o.info : 0;
        vs::copy_data_out(a, irp);
        StorPortCompleteServiceIrp(a, irp);
    }
    vs::complete_service_irps(a, o.extra, o.nextra);
    if (o.bus_change) VsBusChangeDetected(a, 0);
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
