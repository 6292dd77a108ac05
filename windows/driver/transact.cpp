// TRANSACT's two halves: a request handed to the service (fill_next, then its data-out copied into
// the service's buffer by copy_data_out) and a reply applied to its SRB (apply_completion, then its
// data-in copied out of the service's buffer by copy_data_in). Every reply is validated before it
// touches an SRB: the tag must name a slot the service holds, lengths must fit both the SRB and the
// service's buffer. The copies run outside the adapter lock, straight between the SRB's buffer and
// the service's (the channel IRP's MDL): one copy per transfer.
#include "miniport.h"

namespace vs {

namespace {

constexpr ULONG kInData = VSTOR_TRANSACT_IN_DATA_OFFSET;
constexpr ULONG kOutData = VSTOR_TRANSACT_OUT_DATA_OFFSET;

}  // namespace

void write_header(vstor_bridge_header* h, ULONG op, ULONG session) {
    h->magic = VSTOR_BRIDGE_MAGIC;
    h->version = VSTOR_BRIDGE_VERSION;
    h->op = static_cast<uint16_t>(op);
    h->session = session;
    h->flags = 0;
}

namespace {

// The next SCSI request, written into `out` (lock held); its data-out follows later (copy_data_out).
void fill_scsi(Adapter* a, UCHAR* out, PIRP irp) {
    auto* req = reinterpret_cast<vstor_bridge_request*>(out + sizeof(vstor_bridge_header));
    const USHORT idx = a->queue_head;
    Slot& s = a->slots[idx];
    a->queue_head = s.next;
    if (a->queue_head == kNone) a->queue_tail = kNone;
    s.next = kNone;
    s.state = kSlotSent;
    --a->queued_count;
    ++a->sent_count;

    PSCSI_REQUEST_BLOCK srb = s.srb;
    write_header(reinterpret_cast<vstor_bridge_header*>(out), VSTOR_OP_TRANSACT, a->session);
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
    const ULONG info = kOutData + (s.direction == VSTOR_DIR_OUT ? s.transfer_length : 0);
    finish_irp(irp, STATUS_SUCCESS, info);
}

}  // namespace

bool fill_next(Adapter* a, PIRP irp) {
    UCHAR* out = out_buffer(irp);  // mapped by the dispatch routine already: no mapping at DISPATCH_LEVEL
    const ULONG out_len = VsIrpOutputLength(irp);
    if (out == nullptr || out_len < kOutData) return false;
    if (a->notice_count != 0) {
        const Notice& n = a->notices[a->notice_head];
        a->notice_head = (a->notice_head + 1) % kMaxNotices;
        --a->notice_count;
        auto* req = reinterpret_cast<vstor_bridge_request*>(out + sizeof(vstor_bridge_header));
        write_header(reinterpret_cast<vstor_bridge_header*>(out), VSTOR_OP_TRANSACT, a->session);
        RtlZeroMemory(req, sizeof(*req));
        req->kind = n.kind;
        req->path_id = n.path;
        req->target_id = n.target;
        req->lun = n.lun;
        finish_irp(irp, STATUS_SUCCESS, kOutData);
        return true;
    }
    if (a->queue_head == kNone) return false;
    // A NO_WAIT TRANSACT may post a buffer sized for its own reply: a write whose data-out does not
    // fit it stays queued for a full-size (parked) one.
    const Slot& head = a->slots[a->queue_head];
    if (head.direction == VSTOR_DIR_OUT && head.transfer_length > out_len - kOutData) return false;
    fill_scsi(a, out, irp);
    return true;
}

void copy_data_out(Adapter* a, PIRP irp) {
    if (!NT_SUCCESS(irp->IoStatus.Status) || irp->IoStatus.Information <= kOutData) return;
    UCHAR* out = out_buffer(irp);
    if (out == nullptr) return;
    vstor_bridge_header h;
    vstor_bridge_request r;
    RtlCopyMemory(&h, out, sizeof(h));
    RtlCopyMemory(&r, out + sizeof(h), sizeof(r));
    if (h.op != VSTOR_OP_TRANSACT || r.kind != VSTOR_REQ_SCSI || r.direction != VSTOR_DIR_OUT) return;
    const ULONG length = static_cast<ULONG>(irp->IoStatus.Information) - kOutData;
    SlotData d(a, static_cast<ULONG>(r.tag & 0xFFFFFFFFu), static_cast<ULONG>(r.tag >> 32), kSlotSent);
    if (d.slot() != nullptr && length <= d.slot()->transfer_length) {
        RtlCopyMemory(out + kOutData, d.slot()->buffer, length);
    } else {
        RtlZeroMemory(out + kOutData, length);
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

}  // namespace

// Apply a completion from the service. Lock held. Returns STATUS_SUCCESS (applied or stale) or
// an error for a malformed reply (the named SRB, if any, is failed so it cannot hang). A reply
// carrying data-in is left in `*reply` with its slot kSlotReplying: the caller copies the data
// outside the lock (copy_data_in) and then finishes it. `in` is the input (header, completion);
// the data-in is in the service's buffer, `out_len` bytes long.
NTSTATUS apply_completion(Adapter* a, const UCHAR* in, ULONG in_len, ULONG out_len, vstor_bridge_completion* reply,
                          bool* data_in) {
    if (in_len < kInData) return STATUS_INVALID_PARAMETER;
    vstor_bridge_completion& c = *reply;
    RtlCopyMemory(&c, in + sizeof(vstor_bridge_header), sizeof(c));  // one read of user-written data
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
                     (s.direction == VSTOR_DIR_IN && (out_len < kInData || c.data_length > out_len - kInData));
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

// Copied outside the adapter lock (under the slot's), then the SRB completes, unless a reset or an
// abort completed it meanwhile.
void copy_data_in(Adapter* a, const UCHAR* out, const vstor_bridge_completion& c) {
    const ULONG idx = static_cast<ULONG>(c.tag & 0xFFFFFFFFu);
    const ULONG gen = static_cast<ULONG>(c.tag >> 32);
    {
        SlotData d(a, idx, gen, kSlotReplying);
        if (d.slot() != nullptr) RtlCopyMemory(d.slot()->buffer, out + kInData, c.data_length);
    }
    Locked lock(a);
    if (a->slots[idx].state == kSlotReplying && a->slots[idx].generation == gen) finish_reply(a, idx, c);
}

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
