// Adapter life cycle: HwFindAdapter, HwInitialize, HwAdapterControl, HwResetBus,
// HwFreeAdapterResources, the service watchdog timer, and the abort paths they share.
#include "miniport.h"

namespace vs {

namespace {

void set_if_covered(PPORT_CONFIGURATION_INFORMATION ci, size_t offset, size_t size, ULONG value) {
    if (ci->Length >= offset + size) {
        RtlCopyMemory(reinterpret_cast<UCHAR*>(ci) + offset, &value, sizeof(value));
    }
}

}  // namespace

void init_adapter(Adapter* a) {
    RtlZeroMemory(a, sizeof(*a));
    KeInitializeSpinLock(&a->lock);
    for (ULONG i = 0; i < kMaxSlots; ++i) {
        KeInitializeSpinLock(&a->slots[i].data_lock);
        a->slots[i].next = static_cast<USHORT>(i + 1 < kMaxSlots ? i + 1 : kNone);
    }
    a->free_head = 0;
    a->queue_head = a->queue_tail = kNone;
}

void arm_timer(Adapter* a) {
    if (a->timer_armed) return;
    a->timer_armed = TRUE;
    VsRequestTimerCall(a, VsHwTimer, kTimerMicroseconds);
}

void complete_srb(Adapter* a, PSCSI_REQUEST_BLOCK srb, UCHAR srb_status) {
    srb->SrbStatus = srb_status;
    VsRequestComplete(a, srb);
}

void free_slot(Adapter* a, USHORT idx) {
    Slot& s = a->slots[idx];
    s.state = kSlotFree;
    s.srb = nullptr;
    s.next = a->free_head;
    a->free_head = idx;
    --a->lun_outstanding[s.target][s.lun];
    KLOCK_QUEUE_HANDLE h;  // a copy in progress (SlotData) ends before the SRB completes
    KeAcquireInStackQueuedSpinLock(&s.data_lock, &h);
    KeReleaseInStackQueuedSpinLock(&h);
}

void queue_notice(Adapter* a, ULONG kind, UCHAR path, UCHAR target, UCHAR lun) {
    if (!a->connected) return;
    if (a->notice_count == kMaxNotices) {
        // Coalesce: a bus reset covers everything queued before it.
        a->notice_head = 0;
        a->notice_count = 0;
        kind = VSTOR_REQ_BUS_RESET;
    }
    Notice& n = a->notices[(a->notice_head + a->notice_count) % kMaxNotices];
    n.kind = kind;
    n.path = path;
    n.target = target;
    n.lun = lun;
    ++a->notice_count;
}

void abort_matching(Adapter* a, UCHAR path, UCHAR target, UCHAR lun, UCHAR srb_status) {
    // Unlink matching queued slots, then fail every matching slot (queued or with the service).
    USHORT prev = kNone;
    for (USHORT i = a->queue_head; i != kNone;) {
        Slot& s = a->slots[i];
        const USHORT next = s.next;
        const bool match = (path == 0xFF || s.path == path) && (target == 0xFF || s.target == target) &&
                           (lun == 0xFF || s.lun == lun);
        if (match) {
            if (prev == kNone) a->queue_head = next; else a->slots[prev].next = next;
            if (a->queue_tail == i) a->queue_tail = prev;
            s.state = kSlotSent;  // finished below with the others
            --a->queued_count;
            ++a->sent_count;
        } else {
            prev = i;
        }
        i = next;
    }
    for (ULONG i = 0; i < kMaxSlots; ++i) {
        Slot& s = a->slots[i];
        if (s.state != kSlotSent && s.state != kSlotReplying) continue;
        if ((path != 0xFF && s.path != path) || (target != 0xFF && s.target != target) ||
            (lun != 0xFF && s.lun != lun)) continue;
        PSCSI_REQUEST_BLOCK srb = s.srb;
        --a->sent_count;
        free_slot(a, static_cast<USHORT>(i));
        srb->DataTransferLength = 0;
        complete_srb(a, srb, srb_status);
    }
}

bool drop_service(Adapter* a) {
    ++a->stats.disconnects;
    a->connected = FALSE;
    a->session = 0;
    a->owner_file = nullptr;
    a->notice_count = 0;
    abort_matching(a, 0xFF, 0xFF, 0xFF, SRB_STATUS_NO_DEVICE);
    bool any = false;
    for (ULONG t = 0; t < VSTOR_BRIDGE_MAX_TARGETS; ++t)
        for (ULONG l = 0; l < VSTOR_BRIDGE_MAX_LUNS; ++l) {
            if (a->lun_present[t][l]) any = true;
            a->lun_present[t][l] = 0;
        }
    return any;
}

}  // namespace vs

using vs::Adapter;

extern "C" ULONG VS_API VsHwFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation,
                                        PVOID LowerDevice, PCHAR ArgumentString,
                                        PPORT_CONFIGURATION_INFORMATION ci, PBOOLEAN Again) {
    (void)LowerDevice;
    (void)ArgumentString;
    auto* a = static_cast<Adapter*>(DeviceExtension);
    vs::init_adapter(a);
    // A virtual miniport's BusInformation is StorPort's FDO for the adapter: the device object the
    // service's channel IOCTLs arrive on (handle_routines.cpp finds the adapter by it).
    a->fdo = BusInformation;
    if (!vs::register_adapter(a)) return SP_RETURN_ERROR;
    // The service opens the adapter through this interface. StorPort passes a virtual miniport's
    // PDO as HwContext. Without it the adapter still works (reachable as \\.\ScsiN:).
    static const GUID interface_guid = VSTOR_BRIDGE_INTERFACE_GUID_INIT;
    if (HwContext != nullptr &&
        NT_SUCCESS(IoRegisterDeviceInterface(static_cast<PDEVICE_OBJECT>(HwContext), &interface_guid, nullptr,
                                             &a->interface_name)))
        a->interface_enabled = NT_SUCCESS(IoSetDeviceInterfaceState(&a->interface_name, TRUE));

    ci->AdapterInterfaceType = Internal;
    ci->MaximumTransferLength = VSTOR_BRIDGE_MAX_TRANSFER;
    ci->NumberOfPhysicalBreaks = VSTOR_BRIDGE_MAX_TRANSFER / 4096 + 1;
    ci->AlignmentMask = 0;
    ci->NumberOfAccessRanges = 0;
    ci->NumberOfBuses = 1;
    ci->InitiatorBusId[0] = static_cast<CCHAR>(VSTOR_BRIDGE_MAX_TARGETS);  // not a target id
    ci->ScatterGather = TRUE;
    ci->Master = TRUE;
    ci->CachesData = FALSE;  // the engine reports its write cache; disk.sys sends SYNCHRONIZE CACHE
    ci->MapBuffers = STOR_MAP_ALL_BUFFERS;
    ci->TaggedQueuing = TRUE;
    ci->AutoRequestSense = TRUE;
    ci->MultipleRequestPerLu = TRUE;
    ci->MaximumNumberOfTargets = VSTOR_BRIDGE_MAX_TARGETS;
    ci->MaximumNumberOfLogicalUnits = VSTOR_BRIDGE_MAX_LUNS;
    ci->Dma64BitAddresses = SCSI_DMA64_MINIPORT_SUPPORTED;
    ci->ResetTargetSupported = TRUE;
    ci->WmiDataProvider = FALSE;
    ci->SynchronizationModel = StorSynchronizeFullDuplex;
    ci->VirtualDevice = TRUE;
    vs::set_if_covered(ci, offsetof(PORT_CONFIGURATION_INFORMATION, MaxNumberOfIO), sizeof(ULONG), vs::kMaxSlots);
    vs::set_if_covered(ci, offsetof(PORT_CONFIGURATION_INFORMATION, MaxIOsPerLun), sizeof(ULONG), vs::kLunQueueDepth);
    vs::set_if_covered(ci, offsetof(PORT_CONFIGURATION_INFORMATION, InitialLunQueueDepth), sizeof(ULONG), vs::kLunQueueDepth);
    *Again = FALSE;
    return SP_RETURN_FOUND;
}

extern "C" BOOLEAN VS_API VsHwInitialize(PVOID DeviceExtension) {
    auto* a = static_cast<Adapter*>(DeviceExtension);
    vs::arm_timer(a);
    return TRUE;
}

// The watchdog: a service that vanished (killed, crashed) leaves no IRP parked and sends no more.
// Its outstanding SRBs then fail with SRB_STATUS_NO_DEVICE and Windows is told the LUNs are gone,
// long before disk.sys's timeout would start a reset storm.
extern "C" VOID VS_API VsHwTimer(PVOID DeviceExtension) {
    auto* a = static_cast<Adapter*>(DeviceExtension);
    PIRP irps[vs::kIrpBatch];
    ULONG nirps = 0;
    bool bus_change = false;
    bool rearm = false;
    {
        vs::Locked lock(a);
        a->timer_armed = FALSE;
        ++a->tick;
        // Work a callback at DIRQL left for a level where the lock may be taken.
        if (__atomic_exchange_n(&a->deferred, 0u, __ATOMIC_SEQ_CST) & vs::kDeferSurpriseRemoval) {
            vs::abort_matching(a, 0xFF, 0xFF, 0xFF, SRB_STATUS_NO_DEVICE);
            vs::queue_notice(a, VSTOR_REQ_SHUTDOWN, 0xFF, 0xFF, 0xFF);
            nirps = vs::dispatch_parked(a, irps, vs::kIrpBatch);
        }
        // With a liveness IRP held the process is known to be alive (its death cancels the IRP),
        // however long its requests take; without one, silence means death. Not while the adapter
        // is stopped for power: the service may be asleep too.
        if (!vs::is_stopped(a) && a->connected && a->liveness == nullptr && a->parked_count == 0 &&
            a->tick - a->last_service_tick >= vs::kServiceGraceTicks) {
            bus_change = vs::drop_service(a);
            if (bus_change) ++a->stats.bus_changes;
            nirps += vs::unpark_all(a, irps + nirps, vs::kIrpBatch - nirps, STATUS_DEVICE_NOT_CONNECTED);
        }
        // The timer runs from HwInitialize to HwFreeAdapterResources, stopped or not, so that
        // ScsiRestartAdapter (DIRQL) need not re-arm it.
        rearm = !a->removed;
        if (rearm) a->timer_armed = TRUE;
    }
    if (rearm) VsRequestTimerCall(a, VsHwTimer, vs::kTimerMicroseconds);
    vs::complete_service_irps(a, irps, nirps);
    if (bus_change) VsBusChangeDetected(a, 0);
}

extern "C" BOOLEAN VS_API VsHwResetBus(PVOID DeviceExtension, ULONG PathId) {
    auto* a = static_cast<Adapter*>(DeviceExtension);
    PIRP irps[vs::kIrpBatch];
    ULONG n = 0;
    {
        vs::Locked lock(a);
        vs::abort_matching(a, static_cast<UCHAR>(PathId), 0xFF, 0xFF, SRB_STATUS_BUS_RESET);
        vs::queue_notice(a, VSTOR_REQ_BUS_RESET, static_cast<UCHAR>(PathId), 0xFF, 0xFF);
        n = vs::dispatch_parked(a, irps, vs::kIrpBatch);
    }
    vs::complete_service_irps(a, irps, n);
    return TRUE;
}

extern "C" SCSI_ADAPTER_CONTROL_STATUS VS_API VsHwAdapterControl(PVOID DeviceExtension,
                                                                 SCSI_ADAPTER_CONTROL_TYPE type,
                                                                 PVOID Parameters) {
    auto* a = static_cast<Adapter*>(DeviceExtension);
    switch (type) {
        case ScsiQuerySupportedControlTypes: {
            auto* list = static_cast<PSCSI_SUPPORTED_CONTROL_TYPE_LIST>(Parameters);
            const SCSI_ADAPTER_CONTROL_TYPE supported[] = {ScsiQuerySupportedControlTypes, ScsiStopAdapter,
                                                           ScsiRestartAdapter, ScsiAdapterPower,
                                                           ScsiAdapterSurpriseRemoval};
            // Not ScsiAdapterSystemPowerHints: a virtual adapter has nothing to do with the hints.
            for (SCSI_ADAPTER_CONTROL_TYPE t : supported)
                if (static_cast<ULONG>(t) < list->MaxControlType) list->SupportedTypeList[t] = TRUE;
            return ScsiAdapterControlSuccess;
        }
        case ScsiStopAdapter:
            // DIRQL with StorPort's interrupt lock held (HW_ADAPTER_CONTROL): no spin lock, no SRB or
            // IRP completion, no pool here. StorPort completes every request before it stops the
            // adapter, so there is nothing to fail; closing the door is one atomic store. A stop for
            // power keeps the service session: ScsiRestartAdapter reopens. On removal,
            // HwCompleteServiceIrp (PASSIVE_LEVEL) drops the session.
            vs::set_stopped(a, true);
            return ScsiAdapterControlSuccess;
        case ScsiRestartAdapter:
            vs::set_stopped(a, false);  // DIRQL as well; the timer never stopped (VsHwTimer)
            return ScsiAdapterControlSuccess;
        case ScsiAdapterSurpriseRemoval:
            // Its IRQL is not documented: do only what is legal at DIRQL and leave failing the
            // outstanding SRBs and telling the service to go to the next timer tick (DISPATCH_LEVEL).
            vs::set_stopped(a, true);
            __atomic_or_fetch(&a->deferred, vs::kDeferSurpriseRemoval, __ATOMIC_SEQ_CST);
            return ScsiAdapterControlSuccess;
        case ScsiAdapterPower:
            return ScsiAdapterControlSuccess;  // no hardware: every power state is fine
        default:
            return ScsiAdapterControlUnsuccessful;
    }
}

extern "C" VOID VS_API VsHwFreeAdapterResources(PVOID DeviceExtension) {
    // Nothing was allocated outside the device extension; make sure nothing can use it any more.
    auto* a = static_cast<Adapter*>(DeviceExtension);
    {
        vs::Locked lock(a);
        a->removed = TRUE;
        vs::set_stopped(a, true);
    }
    vs::unregister_adapter(a);
    if (a->interface_enabled) IoSetDeviceInterfaceState(&a->interface_name, FALSE);
    a->interface_enabled = FALSE;
    if (a->interface_name.Buffer != nullptr) RtlFreeUnicodeString(&a->interface_name);
    a->interface_name.Buffer = nullptr;
}
