// The service's DeviceIoControl as the emulated I/O manager and StorPort turn it into an
// IRP_MJ_DEVICE_CONTROL IRP: buffered or direct I/O (an MDL over the caller's buffer), sent to the
// routine in the miniport's DRIVER_OBJECT, StorPort's own routine (its service IOCTL handed to
// HwProcessServiceRequest), completion, cancellation (a process dying), handles closing, and the
// IRPs' owner.
#include "storport_sim.hpp"

#include <algorithm>
#include <cstring>

#include "emulator_internal.hpp"
#include "kernel_exports.hpp"
#include "vstor/bridge_protocol.h"

namespace vstor::storport_sim {

namespace {
constexpr ULONG kMethodBuffered = 0;
constexpr std::uintptr_t kPage = 4096;
}  // namespace

// The I/O manager's part: the system buffer (METHOD_BUFFERED: input and output; direct: the input)
// and, for METHOD_IN_DIRECT/METHOD_OUT_DIRECT, the MDL describing the caller's output buffer
// (locked; mapped into system space only when the driver asks).
IoctlResult Emulator::device_ioctl(int process, ULONG code, const void* in, ULONG in_len, void* out, ULONG out_len) {
    auto s = std::make_shared<ServiceIrp>();
    s->process = process;
    const bool buffered = (code & 3) == kMethodBuffered;
    s->system_buffer.assign(buffered ? std::max(in_len, out_len) : in_len, 0);
    if (in_len) std::memcpy(s->system_buffer.data(), in, in_len);
    io_manager_bytes_ += in_len;
    s->irp.AssociatedIrp.SystemBuffer = s->system_buffer.empty() ? nullptr : s->system_buffer.data();
    if (!buffered && out_len != 0) {
        const auto va = reinterpret_cast<std::uintptr_t>(out);
        s->mdl.StartVa = reinterpret_cast<PVOID>(va & ~(kPage - 1));
        s->mdl.ByteOffset = static_cast<ULONG>(va & (kPage - 1));
        s->mdl.ByteCount = out_len;
        s->mdl.MdlFlags = MDL_PAGES_LOCKED;
        s->irp.MdlAddress = &s->mdl;
    }
    s->stack.MajorFunction = IRP_MJ_DEVICE_CONTROL;
    s->stack.DeviceObject = &fdo_;
    s->stack.Parameters.DeviceIoControl.IoControlCode = code;
    s->stack.Parameters.DeviceIoControl.InputBufferLength = in_len;
    s->stack.Parameters.DeviceIoControl.OutputBufferLength = out_len;
    s->irp.Tail.Overlay.CurrentStackLocation = &s->stack;
    s->irp.IoStatus.Status = STATUS_PENDING;
    {
        std::lock_guard lk(mu_);
        if (std::find(dead_processes_.begin(), dead_processes_.end(), process) != dead_processes_.end())
            return {STATUS_CANCELLED, 0};  // a dead process issues nothing
        if (!started_) return {STATUS_DEVICE_NOT_CONNECTED, 0};
        s->stack.FileObject = file_object(process);
        service_irps_[&s->irp] = s;
        ++in_service_dispatch_;
    }
    if (!s->system_buffer.empty()) track_system_buffer(s->system_buffer.data(), s->system_buffer.size());
    const NTSTATUS returned = send_irp("DRIVER_DISPATCH(IRP_MJ_DEVICE_CONTROL)", &s->irp);
    IoctlResult res;
    {
        std::unique_lock lk(mu_);
        --in_service_dispatch_;
        check_dispatch_result(*s, returned);
        cv_.notify_all();
        s->cv.wait(lk, [&] { return s->done; });
        service_irps_.erase(&s->irp);
        res.status = s->irp.IoStatus.Status;
        res.information = static_cast<ULONG>(s->irp.IoStatus.Information);
    }
    if (s->mdl.MdlFlags & MDL_MAPPED_TO_SYSTEM_VA) untrack_mapping(s->mdl.MappedSystemVa);  // MmUnlockPages
    if (!s->system_buffer.empty()) untrack_system_buffer(s->system_buffer.data());
    if (NT_SUCCESS(res.status)) {
        if (res.information > out_len) {
            violation("service IRP Information exceeds the output buffer");
            res.information = out_len;
        }
        if (buffered) {
            std::memcpy(out, s->system_buffer.data(), res.information);  // the I/O manager's copy-out
            io_manager_bytes_ += res.information;
        }
    }
    return res;
}

// What the dispatch routine returned must agree with what it did to the IRP: STATUS_PENDING only
// for an IRP marked pending (IoMarkIrpPending), anything else only for an IRP completed with it.
void Emulator::check_dispatch_result(ServiceIrp& s, NTSTATUS returned) {
    const bool marked = (s.stack.Control & SL_PENDING_RETURNED) != 0;
    if (returned == STATUS_PENDING) {
        if (!marked) violations_.push_back("IRP_MJ_DEVICE_CONTROL returned STATUS_PENDING without IoMarkIrpPending");
    } else if (marked) {
        violations_.push_back("IRP_MJ_DEVICE_CONTROL marked its IRP pending but returned another status");
    } else if (!s.done) {
        violations_.push_back("IRP_MJ_DEVICE_CONTROL returned a status for an IRP it did not complete");
        s.done = true;  // nobody will: do not hang the caller
    } else if (returned != s.irp.IoStatus.Status) {
        violations_.push_back("IRP_MJ_DEVICE_CONTROL returned another status than it completed with");
    }
}

NTSTATUS Emulator::send_irp(const char* role, PIRP irp) {
    PDRIVER_DISPATCH routine = driver_.MajorFunction[irp->Tail.Overlay.CurrentStackLocation->MajorFunction];
    AtIrql irql(kPassive, role);
    // StorPort's own routine is the emulator's, not in a PE image: called directly.
    return routine == code_.port_dispatch_routine() ? on_port_dispatch(&fdo_, irp)
                                                    : code_.call_dispatch(role, routine, &fdo_, irp);
}

// StorPort's dispatch routine in the miniport's DRIVER_OBJECT, for the major functions the driver
// may chain. The miniport never sees these IRPs, except its service IOCTL.
NTSTATUS Emulator::on_port_dispatch(PDEVICE_OBJECT device, PIRP irp) {
    require_passive("StorPort's dispatch routine");
    if (device != &fdo_) report("StorPort's dispatch routine called for another device");
    switch (irp->Tail.Overlay.CurrentStackLocation->MajorFunction) {
        case IRP_MJ_DEVICE_CONTROL: return port_device_control(irp);
        case IRP_MJ_CLEANUP: return port_cleanup(irp);
        case IRP_MJ_CLOSE: {
            std::lock_guard lk(mu_);
            ++port_closes_;
            irp->IoStatus.Status = STATUS_SUCCESS;
            return STATUS_SUCCESS;
        }
        default: report("StorPort's dispatch routine called for a major function it was not registered for");
    }
    return STATUS_INVALID_DEVICE_REQUEST;
}

// StorPort's IRP_MJ_DEVICE_CONTROL: its service IOCTL goes to HwProcessServiceRequest (StorPort then
// owns the IRP and its DriverContext, and pends it until StorPortCompleteServiceIrp); other codes
// (the emulator knows none) are refused.
NTSTATUS Emulator::port_device_control(PIRP irp) {
    std::shared_ptr<ServiceIrp> s;
    {
        std::lock_guard lk(mu_);
        if (auto it = service_irps_.find(irp); it != service_irps_.end()) s = it->second;
    }
    if (!s || s->stack.Parameters.DeviceIoControl.IoControlCode != VSTOR_BRIDGE_IOCTL_STORPORT) {
        irp->IoStatus.Status = STATUS_INVALID_DEVICE_REQUEST;
        irp->IoStatus.Information = 0;
        if (s) {
            std::lock_guard lk(mu_);
            s->done = true;
        }
        return STATUS_INVALID_DEVICE_REQUEST;
    }
    s->storport_owned = true;
    for (auto& p : irp->Tail.Overlay.DriverContext) p = kStorPortsContext;
    s->stack.Control |= SL_PENDING_RETURNED;
    {
        AtIrql irql(kPassive, "HwProcessServiceRequest");
        init_.HwProcessServiceRequest(extension_.data(), irp);  // PASSIVE_LEVEL, caller's thread
    }
    return STATUS_PENDING;
}

// Marks a pending IRP done; null when it was not pending (reported as `what`). mu_ held.
std::shared_ptr<Emulator::ServiceIrp> Emulator::finish_pending(PIRP irp, const char* what) {
    auto it = service_irps_.find(irp);
    if (it == service_irps_.end() || it->second->done) {
        violations_.push_back(std::string(what) + " on an IRP that is not pending");
        return nullptr;
    }
    if (irp->IoStatus.Status == STATUS_PENDING) violations_.push_back(std::string(what) + " with STATUS_PENDING");
    if (irp->CancelRoutine != nullptr) violations_.push_back(std::string(what) + " with its cancel routine still set");
    it->second->done = true;
    return it->second;
}

void Emulator::on_complete_service_irp(PIRP irp) {
    std::shared_ptr<ServiceIrp> s;
    {
        std::lock_guard lk(mu_);
        auto it = service_irps_.find(irp);
        if (it != service_irps_.end() && !it->second->storport_owned) {
            violations_.push_back("StorPortCompleteServiceIrp on an IRP StorPort never received (the miniport's own)");
            return;
        }
        s = finish_pending(irp, "StorPortCompleteServiceIrp");
        if (!s) return;
        for (PVOID p : irp->Tail.Overlay.DriverContext)
            if (p != kStorPortsContext) {
                violations_.push_back("the miniport wrote Tail.Overlay.DriverContext of a service IRP (StorPort's)");
                break;
            }
    }
    s->cv.notify_all();
}

void Emulator::on_complete_irp(PIRP irp) {
    std::shared_ptr<ServiceIrp> s;
    {
        std::lock_guard lk(mu_);
        auto it = service_irps_.find(irp);
        if (it != service_irps_.end() && it->second->storport_owned) {
            violations_.push_back("IoCompleteRequest on StorPort's service IRP (StorPortCompleteServiceIrp completes those)");
            return;
        }
        s = finish_pending(irp, "IoCompleteRequest");
        if (!s) return;
    }
    s->cv.notify_all();
}

PVOID Emulator::on_map_mdl(PMDL mdl, KPROCESSOR_MODE mode) {
    if (mode != KernelMode) report("MmMapLockedPagesSpecifyCache with UserMode (a system address is needed)");
    if (!(mdl->MdlFlags & MDL_PAGES_LOCKED)) report("MmMapLockedPagesSpecifyCache on an MDL whose pages are not locked");
    auto* va = static_cast<std::uint8_t*>(mdl->StartVa) + mdl->ByteOffset;
    mdl->MappedSystemVa = va;
    mdl->MdlFlags |= MDL_MAPPED_TO_SYSTEM_VA;
    ++mdl_maps_;
    track_mapping(va, mdl->ByteCount);
    return va;
}

void Emulator::cancel(ServiceIrp& s) {
    cancel_mu_.lock();  // IoAcquireCancelSpinLock
    s.irp.Cancel = TRUE;
    PDRIVER_CANCEL routine = IoSetCancelRoutine(&s.irp, nullptr);
    if (routine) {
        s.irp.CancelIrql = t_irql;
        t_irql = kDispatch;  // the cancel spin lock raises; IoReleaseCancelSpinLock restores CancelIrql
        const KIRQL before = s.irp.CancelIrql;
        code_.call_cancel(routine, &fdo_, &s.irp);  // releases the cancel lock (IoReleaseCancelSpinLock)
        if (t_irql != before) report("cancel routine returned at another IRQL");
        t_irql = before;
    } else {
        cancel_mu_.unlock();
    }
}

void Emulator::kill_process(int process) {
    std::vector<std::shared_ptr<ServiceIrp>> victims;
    {
        std::lock_guard lk(mu_);
        dead_processes_.push_back(process);
        for (auto& [irp, s] : service_irps_)
            if (s->process == process && !s->done) victims.push_back(s);
        in_service_dispatch_ += victims.size();
    }
    for (auto& s : victims) {
        cancel(*s);  // the I/O manager cancels a dying thread's IRPs
        std::lock_guard lk(mu_);
        --in_service_dispatch_;
    }
    cv_.notify_all();
}

PVOID Emulator::file_object(int process) {
    auto& h = handles_[process];
    if (!h) h = std::make_shared<int>(process);
    return h.get();
}

void Emulator::close_handle(int process, std::function<void()> while_cleaning) {
    std::shared_ptr<int> handle;
    {
        std::lock_guard lk(mu_);
        auto it = handles_.find(process);
        if (it == handles_.end()) return;
        handle = it->second;
        while_cleaning_ = std::move(while_cleaning);
        ++in_service_dispatch_;
    }
    IRP irp{};
    IO_STACK_LOCATION stack{};
    stack.MajorFunction = IRP_MJ_CLEANUP;
    stack.DeviceObject = &fdo_;
    stack.FileObject = handle.get();
    irp.Tail.Overlay.CurrentStackLocation = &stack;
    irp.IoStatus.Status = STATUS_PENDING;
    const unsigned port_before = port_cleanups();
    const NTSTATUS status = send_irp("DRIVER_DISPATCH(IRP_MJ_CLEANUP)", &irp);
    bool pending = false;
    {
        std::lock_guard lk(mu_);
        --in_service_dispatch_;
        if (handles_[process] == handle) handles_.erase(process);  // the next DeviceIoControl opens a new one
        if (port_cleanups_ != port_before + 1)
            violations_.push_back("IRP_MJ_CLEANUP did not reach StorPort's routine once (the miniport must chain it)");
        if (status != irp.IoStatus.Status) violations_.push_back("IRP_MJ_CLEANUP returned another status than it completed with");
        for (auto& [p, s] : service_irps_)
            if (!s->done && s->stack.FileObject == handle.get()) {
                violations_.push_back("service IRP still pending after IRP_MJ_CLEANUP of its handle");
                pending = true;
            }
    }
    // The file object's last reference goes once no IRP of it is pending: IRP_MJ_CLOSE.
    if (!pending) send_close(handle.get());
    cv_.notify_all();
}

void Emulator::send_close(PVOID file) {
    IRP irp{};
    IO_STACK_LOCATION stack{};
    stack.MajorFunction = IRP_MJ_CLOSE;
    stack.DeviceObject = &fdo_;
    stack.FileObject = file;
    irp.Tail.Overlay.CurrentStackLocation = &stack;
    irp.IoStatus.Status = STATUS_PENDING;
    const unsigned before = port_closes();
    const NTSTATUS status = send_irp("DRIVER_DISPATCH(IRP_MJ_CLOSE)", &irp);
    std::lock_guard lk(mu_);
    if (port_closes_ != before + 1)
        violations_.push_back("IRP_MJ_CLOSE did not reach StorPort's routine once (the miniport must chain it)");
    if (status != irp.IoStatus.Status) violations_.push_back("IRP_MJ_CLOSE returned another status than it completed with");
}

// StorPort completes the cleanup IRP; the miniport never sees it.
NTSTATUS Emulator::port_cleanup(PIRP irp) {
    std::function<void()> hook;
    {
        std::lock_guard lk(mu_);
        ++port_cleanups_;
        hook.swap(while_cleaning_);
    }
    if (hook) hook();
    irp->IoStatus.Status = STATUS_SUCCESS;
    irp->IoStatus.Information = 0;
    return STATUS_SUCCESS;
}

ULONG Emulator::requestor_process(PIRP irp) {
    std::lock_guard lk(mu_);
    auto it = service_irps_.find(irp);
    if (it == service_irps_.end()) {
        violations_.push_back("IoGetRequestorProcessId on an IRP that is not pending");
        return 0;
    }
    return static_cast<ULONG>(it->second->process);
}

std::size_t Emulator::pending_service_irps() const {
    std::lock_guard lk(mu_);
    std::size_t n = 0;
    for (auto& [irp, s] : service_irps_) n += !s->done;
    return n;
}

}  // namespace vstor::storport_sim
