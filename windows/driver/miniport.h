// vstor.sys internals: the adapter's device extension and the routines the callback files share.
// Freestanding C++: no exceptions, RTTI, STL, global constructors or heap; everything the adapter
// needs lives in the device extension StorPort allocates (non-paged) before HwFindAdapter.
//
// Locking: one spin lock (Adapter::lock) guards every field below it. HwStartIo runs with no
// StorPort lock held and may run on several CPUs at once; HwProcessServiceRequest runs at
// PASSIVE_LEVEL on the service's threads; the timer at DISPATCH_LEVEL. SRBs are completed with
// StorPortNotification(RequestComplete) while the lock is held, so that a reset, a disconnect and a
// service reply can never both complete one SRB. Service IRPs are completed after the lock is dropped.
// An SRB's data is copied to or from the service's buffer (the channel IRP's MDL, mapped into system
// space) outside the adapter lock, under its slot's data_lock (SlotData), which free_slot takes
// before the SRB can complete. The channel's IRPs (VSTOR_BRIDGE_IOCTL, METHOD_OUT_DIRECT) never
// reach StorPort: the driver's own IRP_MJ_DEVICE_CONTROL routine (handle_routines.cpp) takes them
// and completes them with IoCompleteRequest.
#pragma once

#include "storport_decl.h"
#include "vstor/bridge_protocol.h"

namespace vs {

constexpr ULONG kMaxSlots = 1024;          // outstanding SRBs per adapter (4 LUNs x 250 + spare)
constexpr ULONG kLunQueueDepth = 250;      // StorPort's default for a virtual miniport
constexpr ULONG kMaxParked = 64;           // service IRPs waiting for work
constexpr ULONG kIrpBatch = kMaxParked + 1; // the parked IRPs and the liveness IRP
constexpr ULONG kMaxNotices = 16;          // reset notices waiting for a service IRP
constexpr ULONG kMaxClosedFiles = 16;      // handles between IRP_MJ_CLEANUP and IRP_MJ_CLOSE
constexpr ULONG kTimerMicroseconds = 250000;
// The service counts as gone when no service IRP is parked and none arrived for this long:
// an idle live service always keeps one parked. 16 x 250 ms = 4 s, well inside disk.sys's timeout.
constexpr ULONG kServiceGraceTicks = 16;
constexpr USHORT kNone = 0xFFFF;

// kSlotReplying: the service's reply is being applied (its data-in copied outside the lock).
enum SlotState : UCHAR { kSlotFree = 0, kSlotQueued = 1, kSlotSent = 2, kSlotReplying = 3 };

struct Slot {
    // Held while the SRB's data is copied to or from a service IRP outside the adapter lock
    // (SlotData); free_slot takes it before the SRB can complete. Lock order: adapter, slot.
    KSPIN_LOCK data_lock;
    PSCSI_REQUEST_BLOCK srb;
    PVOID buffer;            // system address of the SRB's data (StorPortGetSystemAddress)
    ULONG transfer_length;   // the SRB's DataTransferLength when it arrived
    ULONG generation;        // bumped on every allocation; half of the tag
    UCHAR state;
    UCHAR path, target, lun;
    UCHAR direction;         // VSTOR_DIR_*
    UCHAR reserved[1];
    USHORT next;             // free list or queue link
};

struct Notice {
    ULONG kind;  // VSTOR_REQ_BUS_RESET / VSTOR_REQ_LUN_RESET / VSTOR_REQ_SHUTDOWN
    UCHAR path, target, lun, reserved;
};

struct Stats {
    ULONG stale_replies;     // replies to requests already completed (reset, abort, disconnect)
    ULONG rejected_replies;  // malformed replies (bad tag, bad lengths)
    ULONG disconnects;       // service lost or gone
    ULONG bus_changes;       // BusChangeDetected raised
};

struct Adapter {
    // Set in HwFindAdapter, cleared in HwFreeAdapterResources (both PASSIVE_LEVEL); not locked.
    UNICODE_STRING interface_name;  // the device interface's symbolic link (IoRegisterDeviceInterface)
    BOOLEAN interface_enabled;
    PVOID fdo;               // StorPort's device object for the adapter: the channel's IRPs arrive on it

    // Written at DIRQL by HwAdapterControl without the lock (a spin lock may not be taken there):
    // atomic, through is_stopped/set_stopped only.
    BOOLEAN stopped;         // ScsiStopAdapter until ScsiRestartAdapter
    ULONG deferred;          // kDefer* work left by a DIRQL callback for the timer (atomic)

    KSPIN_LOCK lock;
    BOOLEAN removed;         // HwCompleteServiceIrp ran: refuse every service IRP
    BOOLEAN timer_armed;
    BOOLEAN connected;
    ULONG session;           // unguessable (new_session_id), never 0
    ULONG owner_pid;         // the process that CONNECTed: the only one whose IRPs are served
    PVOID owner_file;        // the file object (handle) it CONNECTed on: its cleanup ends the session
    ULONG session_counter;
    ULONG tick;
    ULONG last_service_tick;
    UCHAR lun_present[VSTOR_BRIDGE_MAX_TARGETS][VSTOR_BRIDGE_MAX_LUNS];
    USHORT lun_outstanding[VSTOR_BRIDGE_MAX_TARGETS][VSTOR_BRIDGE_MAX_LUNS];
    USHORT free_head;
    USHORT queue_head, queue_tail;
    ULONG queued_count;
    ULONG sent_count;
    PIRP parked[kMaxParked];
    ULONG parked_count;
    PIRP liveness;           // VSTOR_OP_HOLD: the service process is alive while this is not cancelled
    ULONG liveness_session;  // the session it was parked in
    // File objects whose handle was closed (IRP_MJ_CLEANUP ran) and not yet freed (IRP_MJ_CLOSE):
    // an operation still in flight on one is refused, so no session or parked IRP outlives its handle.
    PVOID closed_files[kMaxClosedFiles];
    ULONG closed_count;
    Notice notices[kMaxNotices];
    ULONG notice_head, notice_count;
    Stats stats;
    Slot slots[kMaxSlots];
};

constexpr ULONG kDeferSurpriseRemoval = 0x1;

inline bool is_stopped(Adapter* a) { return __atomic_load_n(&a->stopped, __ATOMIC_ACQUIRE) != 0; }
inline void set_stopped(Adapter* a, bool v) { __atomic_store_n(&a->stopped, v ? TRUE : FALSE, __ATOMIC_RELEASE); }

class Locked {
public:
    explicit Locked(Adapter* a) { KeAcquireInStackQueuedSpinLock(&a->lock, &h_); }
    ~Locked() { KeReleaseInStackQueuedSpinLock(&h_); }
    Locked(const Locked&) = delete;
    Locked& operator=(const Locked&) = delete;

private:
    KLOCK_QUEUE_HANDLE h_;
};

// adapter.cpp
void init_adapter(Adapter* a);
void arm_timer(Adapter* a);
// Frees slot `idx` before its SRB completes, once a copy of its data running outside the lock
// (SlotData) has ended; the caller adjusts queued_count/sent_count. Lock held.
void free_slot(Adapter* a, USHORT idx);
// Completes every outstanding SRB matching (path, target, lun) with `srb_status`; 0xFF matches any.
// Lock held.
void abort_matching(Adapter* a, UCHAR path, UCHAR target, UCHAR lun, UCHAR srb_status);
// The service is gone (or said goodbye): fail its work, forget its LUNs, tell PnP. Lock held.
// Returns whether any LUN disappeared (caller raises BusChangeDetected after dropping the lock).
bool drop_service(Adapter* a);
void queue_notice(Adapter* a, ULONG kind, UCHAR path, UCHAR target, UCHAR lun);  // lock held
void complete_srb(Adapter* a, PSCSI_REQUEST_BLOCK srb, UCHAR srb_status);        // no slot involved

inline void finish_irp(PIRP irp, NTSTATUS status, ULONG_PTR info) {
    irp->IoStatus.Status = status;
    irp->IoStatus.Information = info;
}

// The service's buffer a channel IRP carries (METHOD_OUT_DIRECT: the I/O manager locked it and built
// the MDL), mapped into system space. The dispatch routine maps it first, at PASSIVE_LEVEL; later
// calls read the mapping back (MDL_MAPPED_TO_SYSTEM_VA). Null when it cannot be mapped.
inline UCHAR* out_buffer(PIRP irp) {
    if (irp->MdlAddress == nullptr) return nullptr;
    return static_cast<UCHAR*>(MmGetSystemAddressForMdlSafe(irp->MdlAddress, NormalPagePriority));
}
// The channel's IRPs are the driver's own (never StorPort's): the I/O manager completes them.
inline void complete_irp(PIRP irp) { IoCompleteRequest(irp, IO_NO_INCREMENT); }

// The data lock of a slot that is still `state` with `generation`, taken under the adapter lock (so
// nobody frees the slot meanwhile) and kept once the adapter lock is dropped, at DISPATCH_LEVEL:
// up to 1 MiB is copied without holding up the adapter, and free_slot waits for it. slot() is
// null when the slot was completed meanwhile (a reset, an abort, a disconnect).
class SlotData {
public:
    SlotData(Adapter* a, ULONG idx, ULONG generation, UCHAR state) {
        KLOCK_QUEUE_HANDLE outer;
        KeAcquireInStackQueuedSpinLock(&a->lock, &outer);
        if (idx < kMaxSlots && a->slots[idx].state == state && a->slots[idx].generation == generation) {
            slot_ = &a->slots[idx];
            KeAcquireInStackQueuedSpinLock(&slot_->data_lock, &h_);
            // Released out of order: the adapter lock goes first, so it must restore the level
            // the slot's lock was taken at (DISPATCH_LEVEL) and the slot's lock the caller's.
            const KIRQL caller = outer.OldIrql;
            outer.OldIrql = h_.OldIrql;
            h_.OldIrql = caller;
        }
        KeReleaseInStackQueuedSpinLock(&outer);
    }
    ~SlotData() {
        if (slot_ != nullptr) KeReleaseInStackQueuedSpinLock(&h_);
    }
    SlotData(const SlotData&) = delete;
    SlotData& operator=(const SlotData&) = delete;
    Slot* slot() const { return slot_; }

private:
    Slot* slot_ = nullptr;
    KLOCK_QUEUE_HANDLE h_;
};

// transact.cpp
// Copies the data-out of the SCSI request `irp` carries (fill_next left room for it) from the
// SRB, outside the adapter lock, just before the IRP is completed; zeroes it when the SRB was
// completed meanwhile, so no stale kernel memory reaches the service.
void copy_data_out(Adapter* a, PIRP irp);
// Fills `irp` with the next piece of work (a notice, or the oldest queued SRB); false when there
// is none. Lock held.
bool fill_next(Adapter* a, PIRP irp);
// Applies a TRANSACT's completion (lock held); see transact.cpp.
NTSTATUS apply_completion(Adapter* a, const UCHAR* in, ULONG in_len, ULONG out_len, vstor_bridge_completion* reply,
                          bool* data_in);
// The data-in of a reply apply_completion left kSlotReplying, from the service's buffer `out`.
void copy_data_in(Adapter* a, const UCHAR* out, const vstor_bridge_completion& c);
ULONG new_session_id(Adapter* a);
void write_header(vstor_bridge_header* h, ULONG op, ULONG session);

// service_channel.cpp
// Runs one channel IRP (VSTOR_BRIDGE_IOCTL) for adapter `a` at PASSIVE_LEVEL: completes it, or
// parks it. Always returns STATUS_PENDING (the IRP is marked pending first: it may be completed by
// another thread as soon as it is parked).
NTSTATUS serve_channel(Adapter* a, PIRP irp);

// parked_irps.cpp
// Parks `irp` cancel-safe (as the session's liveness IRP with `liveness`); false when it was not
// parked (refused or already cancelled: its status is set for completion). Lock held.
bool park(Adapter* a, PIRP irp, bool liveness = false);
// Hands queued work to parked service IRPs; collects the IRPs to complete in `out` (lock held).
ULONG dispatch_parked(Adapter* a, PIRP* out, ULONG out_cap);
void complete_service_irps(Adapter* a, PIRP* irps, ULONG n);  // lock not held
// The driver's adapters, for the cancel routine (which may not use the IRP's DriverContext) and
// the dispatch routines. HwFindAdapter registers (false: too many adapters), HwFreeAdapterResources
// unregisters.
bool register_adapter(Adapter* a);
void unregister_adapter(Adapter* a);
// Calls `visit` for each registered adapter, under the registry lock and that adapter's lock, until
// it returns true; returns that adapter (null if none did). The adapter outlives the call: StorPort
// frees the device extension only with its device object, which an IRP in flight keeps referenced.
Adapter* find_adapter(bool (*visit)(Adapter* a, void* context), void* context);

// handle_routines.cpp
// Puts the driver's IRP_MJ_DEVICE_CONTROL, IRP_MJ_CLEANUP and IRP_MJ_CLOSE routines in front of
// StorPort's (DriverEntry, after StorPortInitialize filled the dispatch table).
void chain_dispatch_routines(PDRIVER_OBJECT driver);
// Whether `file`'s handle is closed (IRP_MJ_CLEANUP ran, IRP_MJ_CLOSE not yet). Lock held.
bool file_closed(Adapter* a, PVOID file);
// Takes every parked IRP (and the liveness IRP) out for completion with `status` (lock held).
ULONG unpark_all(Adapter* a, PIRP* out, ULONG out_cap, NTSTATUS status);

}  // namespace vs

extern "C" {
HW_INITIALIZE VsHwInitialize;
HW_STARTIO VsHwStartIo;
VIRTUAL_HW_FIND_ADAPTER VsHwFindAdapter;
HW_RESET_BUS VsHwResetBus;
HW_ADAPTER_CONTROL VsHwAdapterControl;
HW_FREE_ADAPTER_RESOURCES VsHwFreeAdapterResources;
HW_PROCESS_SERVICE_REQUEST VsHwProcessServiceRequest;
HW_COMPLETE_SERVICE_IRP VsHwCompleteServiceIrp;
HW_TIMER VsHwTimer;
}
