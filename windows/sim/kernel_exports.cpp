// The StorPort and kernel routines vstor.sys imports (kernel_exports.hpp lists them), implemented
// over the emulator (storport_sim.hpp).
#include "kernel_exports.hpp"

#include <atomic>
#include <cstdarg>
#include <thread>

#include "irql_model.hpp"
#include "storport_sim.hpp"

using vstor::storport_sim::current_emulator;

extern "C" {

ULONG StorPortInitialize(PVOID, PVOID, VIRTUAL_HW_INITIALIZATION_DATA* data, PVOID) {
    return current_emulator()->on_initialize(data);
}

VOID StorPortNotification(SCSI_NOTIFICATION_TYPE type, PVOID extension, ...) {
    va_list args;
    va_start(args, extension);
    switch (type) {
        case RequestComplete: {
            auto* srb = va_arg(args, PSCSI_REQUEST_BLOCK);
            current_emulator()->on_request_complete(srb);
            break;
        }
        case RequestTimerCall: {
            auto* fn = va_arg(args, HW_TIMER*);
            const ULONG us = va_arg(args, ULONG);
            current_emulator()->on_timer_request(fn, us);
            break;
        }
        case BusChangeDetected:
            (void)va_arg(args, int);  // PathId (UCHAR, promoted)
            current_emulator()->on_bus_change();
            break;
        default:
            break;
    }
    va_end(args);
}

ULONG StorPortExtendedFunction(STORPORT_FUNCTION_CODE code, PVOID extension, ...) {
    va_list args;
    va_start(args, extension);
    ULONG rc = STOR_STATUS_NOT_IMPLEMENTED;
    switch (code) {
        case ExtFunctionGetSystemAddress: {
            auto* srb = va_arg(args, PSCSI_REQUEST_BLOCK);
            auto** va = va_arg(args, PVOID*);
            if (current_emulator()->system_address_fails()) {
                *va = nullptr;  // no system PTEs left to map the buffer: a transient failure
                rc = STOR_STATUS_INSUFFICIENT_RESOURCES;
                break;
            }
            *va = srb->DataBuffer;  // buffers are mapped (STOR_MAP_ALL_BUFFERS)
            rc = STOR_STATUS_SUCCESS;
            break;
        }
        case ExtFunctionCompleteServiceIrp: {
            vstor::storport_sim::require_at_most_dispatch("StorPortCompleteServiceIrp");
            auto* irp = va_arg(args, PIRP);
            if (irp == nullptr) {
                rc = STOR_STATUS_INVALID_PARAMETER;
                break;
            }
            current_emulator()->on_complete_service_irp(irp);
            rc = STOR_STATUS_SUCCESS;
            break;
        }
        default:
            break;
    }
    va_end(args);
    return rc;
}

VOID KeInitializeSpinLock(PKSPIN_LOCK lock) { *lock = 0; }

VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK lock, PKLOCK_QUEUE_HANDLE handle) {
    vstor::storport_sim::require_at_most_dispatch("KeAcquireInStackQueuedSpinLock");
    std::atomic_ref<ULONG_PTR> word(*lock);
    while (word.exchange(1, std::memory_order_acquire) != 0) {
        while (word.load(std::memory_order_relaxed) != 0) std::this_thread::yield();
    }
    handle->LockQueue.Lock = lock;
    handle->OldIrql = vstor::storport_sim::t_irql;
    vstor::storport_sim::t_irql = vstor::storport_sim::kDispatch;
}

VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE handle) {
    std::atomic_ref<ULONG_PTR> word(*handle->LockQueue.Lock);
    word.store(0, std::memory_order_release);
    vstor::storport_sim::t_irql = handle->OldIrql;
}

NTSTATUS IoRegisterDeviceInterface(PDEVICE_OBJECT pdo, const GUID* guid, PUNICODE_STRING, PUNICODE_STRING link) {
    vstor::storport_sim::require_passive("IoRegisterDeviceInterface");
    return current_emulator()->on_register_interface(pdo, guid, link);
}

NTSTATUS IoSetDeviceInterfaceState(PUNICODE_STRING link, BOOLEAN enable) {
    vstor::storport_sim::require_passive("IoSetDeviceInterfaceState");
    return current_emulator()->on_interface_state(link, enable);
}

VOID RtlFreeUnicodeString(PUNICODE_STRING s) {
    vstor::storport_sim::require_passive("RtlFreeUnicodeString");
    delete[] s->Buffer;
    s->Buffer = nullptr;
    s->Length = s->MaximumLength = 0;
}

ULONG IoGetRequestorProcessId(PIRP irp) { return current_emulator()->requestor_process(irp); }

VOID IoReleaseCancelSpinLock(KIRQL irql) {
    vstor::storport_sim::t_irql = irql;
    current_emulator()->release_cancel_lock();
}

PDRIVER_CANCEL IoSetCancelRoutine(PIRP irp, PDRIVER_CANCEL routine) {
    std::atomic_ref<PDRIVER_CANCEL> slot(const_cast<PDRIVER_CANCEL&>(irp->CancelRoutine));
    return slot.exchange(routine, std::memory_order_acq_rel);
}

}  // extern "C"
