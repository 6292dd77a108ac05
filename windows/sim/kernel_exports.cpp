// The StorPort and kernel routines vstor.sys imports (kernel_exports.hpp lists them), implemented
// over the emulator (storport_sim.hpp).
#include "kernel_exports.hpp"

#include <atomic>
#include <cstdarg>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "irql_model.hpp"
#include "storport_sim.hpp"

using vstor::storport_sim::current_emulator;

namespace {
// The spin locks this thread holds (at most a few: registry, adapter, slot).
thread_local PKSPIN_LOCK t_held[8];
thread_local unsigned t_held_count = 0;
std::atomic<PKSPIN_LOCK> g_watched{nullptr};
std::atomic<unsigned> g_large_copies{0}, g_watched_copies{0}, g_mdl_copies{0}, g_system_buffer_copies{0};

// Address ranges (start -> length) of MDL system mappings and of system buffers.
struct Ranges {
    std::mutex mu;
    std::map<std::uintptr_t, std::size_t> mdl, system;
};
Ranges& ranges() {
    static Ranges r;
    return r;
}
bool within(const std::map<std::uintptr_t, std::size_t>& m, const void* p, std::size_t n) {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    auto it = m.upper_bound(a);
    if (it == m.begin()) return false;
    --it;
    return a + n <= it->first + it->second;
}
}  // namespace
using vstor::storport_sim::VarArgs;

namespace vstor::storport_sim {

VOID storport_notification(SCSI_NOTIFICATION_TYPE type, PVOID, VarArgs& args) {
    switch (type) {
        case RequestComplete: {
            auto* srb = next_arg<PSCSI_REQUEST_BLOCK>(args);
            current_emulator()->on_request_complete(srb);
            break;
        }
        case RequestTimerCall: {
            auto* fn = next_arg<HW_TIMER*>(args);
            const ULONG us = next_arg<ULONG>(args);
            current_emulator()->on_timer_request(fn, us);
            break;
        }
        case BusChangeDetected:
            (void)next_arg<ULONG>(args);  // PathId (UCHAR, promoted)
            current_emulator()->on_bus_change();
            break;
        default:
            break;
    }
}

void note_copy(std::size_t bytes, const void* dst, const void* src) {
    if (bytes < kLargeCopy) return;
    g_large_copies.fetch_add(1);
    PKSPIN_LOCK watched = g_watched.load();
    for (unsigned i = 0; i < t_held_count; ++i)
        if (t_held[i] == watched) g_watched_copies.fetch_add(1);
    auto& r = ranges();
    std::lock_guard lk(r.mu);
    if (within(r.mdl, dst, bytes) || within(r.mdl, src, bytes)) g_mdl_copies.fetch_add(1);
    if (within(r.system, dst, bytes) || within(r.system, src, bytes)) g_system_buffer_copies.fetch_add(1);
}

void watch_copies_under(PKSPIN_LOCK lock) {
    g_watched = lock;
    g_large_copies = 0;
    g_watched_copies = 0;
    g_mdl_copies = 0;
    g_system_buffer_copies = 0;
}

CopyCounts copy_counts() {
    return {g_large_copies.load(), g_watched_copies.load(), g_mdl_copies.load(), g_system_buffer_copies.load()};
}

void track_mapping(const void* va, std::size_t bytes) {
    std::lock_guard lk(ranges().mu);
    ranges().mdl[reinterpret_cast<std::uintptr_t>(va)] = bytes;
}
void untrack_mapping(const void* va) {
    std::lock_guard lk(ranges().mu);
    ranges().mdl.erase(reinterpret_cast<std::uintptr_t>(va));
}
void track_system_buffer(const void* va, std::size_t bytes) {
    std::lock_guard lk(ranges().mu);
    ranges().system[reinterpret_cast<std::uintptr_t>(va)] = bytes;
}
void untrack_system_buffer(const void* va) {
    std::lock_guard lk(ranges().mu);
    ranges().system.erase(reinterpret_cast<std::uintptr_t>(va));
}

ULONG storport_extended_function(STORPORT_FUNCTION_CODE code, PVOID, VarArgs& args) {
    ULONG rc = STOR_STATUS_NOT_IMPLEMENTED;
    switch (code) {
        case ExtFunctionGetSystemAddress: {
            auto* srb = next_arg<PSCSI_REQUEST_BLOCK>(args);
            auto** va = next_arg<PVOID*>(args);
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
            auto* irp = next_arg<PIRP>(args);
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
    return rc;
}

}  // namespace vstor::storport_sim

// The C variadic exports the natively compiled driver calls.
namespace {
class VaListArgs final : public vstor::storport_sim::VarArgs {
public:
    explicit VaListArgs(va_list& ap) : ap_(ap) {}
    std::uintptr_t word() override { return reinterpret_cast<std::uintptr_t>(va_arg(ap_, void*)); }
    std::uint32_t u32() override { return va_arg(ap_, std::uint32_t); }

private:
    va_list& ap_;
};
}  // namespace

extern "C" {

ULONG StorPortInitialize(PVOID, PVOID, VIRTUAL_HW_INITIALIZATION_DATA* data, PVOID) {
    return current_emulator()->on_initialize(data);
}

VOID StorPortNotification(SCSI_NOTIFICATION_TYPE type, PVOID extension, ...) {
    va_list ap;
    va_start(ap, extension);
    VaListArgs args(ap);
    vstor::storport_sim::storport_notification(type, extension, args);
    va_end(ap);
}

ULONG StorPortExtendedFunction(STORPORT_FUNCTION_CODE code, PVOID extension, ...) {
    va_list ap;
    va_start(ap, extension);
    VaListArgs args(ap);
    const ULONG rc = vstor::storport_sim::storport_extended_function(code, extension, args);
    va_end(ap);
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
    if (t_held_count < 8) t_held[t_held_count++] = lock;
    handle->OldIrql = vstor::storport_sim::t_irql;
    vstor::storport_sim::t_irql = vstor::storport_sim::kDispatch;
}

VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE handle) {
    for (unsigned i = t_held_count; i-- > 0;)
        if (t_held[i] == handle->LockQueue.Lock) {
            t_held[i] = t_held[--t_held_count];
            break;
        }
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

PVOID MmMapLockedPagesSpecifyCache(PMDL mdl, KPROCESSOR_MODE mode, MEMORY_CACHING_TYPE, PVOID, ULONG, ULONG) {
    vstor::storport_sim::require_at_most_dispatch("MmMapLockedPagesSpecifyCache");
    return current_emulator()->on_map_mdl(mdl, mode);
}

VOID IofCompleteRequest(PIRP irp, CCHAR) {
    vstor::storport_sim::require_at_most_dispatch("IoCompleteRequest");
    current_emulator()->on_complete_irp(irp);
}

void* vs_sim_copy(void* dst, const void* src, size_t n) {
    vstor::storport_sim::note_copy(n, dst, src);
    return std::memcpy(dst, src, n);
}

VOID IoReleaseCancelSpinLock(KIRQL irql) {
    vstor::storport_sim::t_irql = irql;
    current_emulator()->release_cancel_lock();
}

PDRIVER_CANCEL IoSetCancelRoutine(PIRP irp, PDRIVER_CANCEL routine) {
    std::atomic_ref<PDRIVER_CANCEL> slot(const_cast<PDRIVER_CANCEL&>(irp->CancelRoutine));
    return slot.exchange(routine, std::memory_order_acq_rel);
}

}  // extern "C"
