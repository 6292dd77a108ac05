// HwStartIo: the thin proxy. SCSI commands are queued for the user-mode service (handed at once to
// a parked service IRP when one waits); the kernel answers no SCSI itself. Resets and aborts are
// handled here because they act on the queue.
#include "miniport.h"

namespace {

UCHAR direction_of(PSCSI_REQUEST_BLOCK srb) {
    switch (srb->SrbFlags & SRB_FLAGS_UNSPECIFIED_DIRECTION) {
        case SRB_FLAGS_DATA_IN: return VSTOR_DIR_IN;
        case SRB_FLAGS_DATA_OUT: return VSTOR_DIR_OUT;
        default: return srb->DataTransferLength ? 0xFF : VSTOR_DIR_NONE;  // both bits: refuse
    }
}

bool lun_valid(PSCSI_REQUEST_BLOCK srb) {
    return srb->PathId == 0 && srb->TargetId < VSTOR_BRIDGE_MAX_TARGETS && srb->Lun < VSTOR_BRIDGE_MAX_LUNS;
}

// Queue an EXECUTE_SCSI SRB. Returns the SRB status to complete it with now, or SRB_STATUS_PENDING.
UCHAR queue_scsi(vs::Adapter* a, PSCSI_REQUEST_BLOCK srb, PIRP* irps, ULONG* nirps) {
    if (!lun_valid(srb)) return srb->PathId != 0 ? SRB_STATUS_INVALID_PATH_ID : SRB_STATUS_NO_DEVICE;
    const UCHAR dir = direction_of(srb);
    if (dir == 0xFF || srb->DataTransferLength > VSTOR_BRIDGE_MAX_TRANSFER || srb->CdbLength == 0 ||
        srb->CdbLength > sizeof(srb->Cdb))
        return SRB_STATUS_INVALID_REQUEST;
    PVOID buffer = nullptr;
    // Mapping the buffer fails only for want of system PTEs, a transient shortage: BUSY makes
    // StorPort/classpnp retry later (INTERNAL_ERROR would fail the I/O up the stack).
    if (srb->DataTransferLength != 0 &&
        (StorPortGetSystemAddress(a, srb, &buffer) != STOR_STATUS_SUCCESS || buffer == nullptr))
        return SRB_STATUS_BUSY;

    vs::Locked lock(a);
    // No service, or the service does not serve this LUN: the device is not there.
    if (!a->connected || vs::is_stopped(a) || !a->lun_present[srb->TargetId][srb->Lun]) return SRB_STATUS_NO_DEVICE;
    if (a->free_head == vs::kNone || a->lun_outstanding[srb->TargetId][srb->Lun] >= vs::kLunQueueDepth)
        return SRB_STATUS_BUSY;  // StorPort retries; it never exceeds the queue depth it was given
    const USHORT idx = a->free_head;
    vs::Slot& s = a->slots[idx];
    a->free_head = s.next;
    s.srb = srb;
    s.buffer = buffer;
    s.transfer_length = srb->DataTransferLength;
    ++s.generation;
    s.state = vs::kSlotQueued;
    s.path = srb->PathId;
    s.target = srb->TargetId;
    s.lun = srb->Lun;
    s.direction = dir;
    s.next = vs::kNone;
    if (a->queue_tail == vs::kNone) a->queue_head = idx; else a->slots[a->queue_tail].next = idx;
    a->queue_tail = idx;
    ++a->queued_count;
    ++a->lun_outstanding[s.target][s.lun];
    *nirps = vs::dispatch_parked(a, irps, vs::kIrpBatch);
    return SRB_STATUS_PENDING;
}

vs::Slot* find_slot(vs::Adapter* a, PSCSI_REQUEST_BLOCK srb) {
    for (ULONG i = 0; i < vs::kMaxSlots; ++i)
        if (a->slots[i].state != vs::kSlotFree && a->slots[i].srb == srb) return &a->slots[i];
    return nullptr;
}

}  // namespace

extern "C" BOOLEAN VS_API VsHwStartIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK srb) {
    auto* a = static_cast<vs::Adapter*>(DeviceExtension);
    PIRP irps[vs::kIrpBatch];
    ULONG nirps = 0;
    UCHAR status = SRB_STATUS_INVALID_REQUEST;
    switch (srb->Function) {
        case SRB_FUNCTION_EXECUTE_SCSI:
            status = queue_scsi(a, srb, irps, &nirps);
            break;
        case SRB_FUNCTION_ABORT_COMMAND: {
            vs::Locked lock(a);
            vs::Slot* s = find_slot(a, srb->NextSrb);
            if (s == nullptr) {
                status = SRB_STATUS_ABORT_FAILED;  // already completed
            } else {
                // Only this SRB: abort_matching by LUN would take its neighbours too, so isolate it.
                PSCSI_REQUEST_BLOCK victim = s->srb;
                if (s->state == vs::kSlotQueued) {
                    USHORT prev = vs::kNone;
                    const USHORT idx = static_cast<USHORT>(s - a->slots);
                    for (USHORT i = a->queue_head; i != vs::kNone; prev = i, i = a->slots[i].next) {
                        if (i != idx) continue;
                        if (prev == vs::kNone) a->queue_head = s->next; else a->slots[prev].next = s->next;
                        if (a->queue_tail == idx) a->queue_tail = prev;
                        break;
                    }
                    --a->queued_count;
                } else {
                    --a->sent_count;  // a late reply carries a stale generation and is ignored
                }
                vs::free_slot(a, static_cast<USHORT>(s - a->slots));
                victim->DataTransferLength = 0;
                vs::complete_srb(a, victim, SRB_STATUS_ABORTED);
                status = SRB_STATUS_SUCCESS;
            }
            break;
        }
        case SRB_FUNCTION_RESET_LOGICAL_UNIT:
        case SRB_FUNCTION_RESET_DEVICE: {
            const bool lun_reset = srb->Function == SRB_FUNCTION_RESET_LOGICAL_UNIT;
            vs::Locked lock(a);
            vs::abort_matching(a, srb->PathId, srb->TargetId, lun_reset ? srb->Lun : 0xFF, SRB_STATUS_BUS_RESET);
            vs::queue_notice(a, lun_reset ? VSTOR_REQ_LUN_RESET : VSTOR_REQ_BUS_RESET, srb->PathId,
                             srb->TargetId, lun_reset ? srb->Lun : 0xFF);
            nirps = vs::dispatch_parked(a, irps, vs::kIrpBatch);
            status = SRB_STATUS_SUCCESS;
            break;
        }
        case SRB_FUNCTION_RESET_BUS:
            VsHwResetBus(a, srb->PathId);
            status = SRB_STATUS_SUCCESS;
            break;
        case SRB_FUNCTION_FLUSH:
        case SRB_FUNCTION_SHUTDOWN:
            // Sent only to adapters that set CachesData; vstor does not (SYNCHRONIZE CACHE reaches the
            // service as a CDB), so there is nothing held here to flush.
        case SRB_FUNCTION_POWER:
            status = SRB_STATUS_SUCCESS;
            break;
        case SRB_FUNCTION_DUMP_POINTERS:
            // A crash/hibernation dump cannot reach a user-mode service: refuse to be a dump target.
        default:
            status = SRB_STATUS_INVALID_REQUEST;
            break;
    }
    if (status != SRB_STATUS_PENDING) vs::complete_srb(a, srb, status);
    vs::complete_service_irps(a, irps, nirps);
    return TRUE;
}
