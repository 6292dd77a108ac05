// The service's DeviceIoControl as the emulated I/O manager and StorPort turn it into a service
// IRP for HwProcessServiceRequest: completion, cancellation (a process dying) and the IRPs' owner.
#include "storport_sim.hpp"

#include <algorithm>
#include <cstring>

#include "emulator_internal.hpp"

namespace vstor::storport_sim {

IoctlResult Emulator::device_ioctl(int process, ULONG code, const void* in, ULONG in_len, void* out, ULONG out_len) {
    auto s = std::make_shared<ServiceIrp>();
    s->process = process;
    s->system_buffer.assign(std::max(in_len, out_len), 0);  // METHOD_BUFFERED: one system buffer
    if (in_len) std::memcpy(s->system_buffer.data(), in, in_len);
    s->irp.AssociatedIrp.SystemBuffer = s->system_buffer.empty() ? nullptr : s->system_buffer.data();
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
    // StorPort received the IRP (IRP_MJ_DEVICE_CONTROL on its FDO) and owns its DriverContext;
    // the miniport must leave it alone (checked when the IRP completes).
    for (auto& p : s->irp.Tail.Overlay.DriverContext) p = kStorPortsContext;
    {
        AtIrql irql(kPassive, "HwProcessServiceRequest");
        init_.HwProcessServiceRequest(extension_.data(), &s->irp);  // PASSIVE_LEVEL, caller's thread
    }
    {
        std::lock_guard lk(mu_);
        --in_service_dispatch_;
    }
    cv_.notify_all();
    IoctlResult res;
    {
        std::unique_lock lk(mu_);
        s->cv.wait(lk, [&] { return s->done; });
        service_irps_.erase(&s->irp);
        res.status = s->irp.IoStatus.Status;
        res.information = static_cast<ULONG>(s->irp.IoStatus.Information);
    }
    if (NT_SUCCESS(res.status)) {
        if (res.information > out_len) {
            violation("service IRP Information exceeds the output buffer");
            res.information = out_len;
        }
        std::memcpy(out, s->system_buffer.data(), res.information);  // the I/O manager's copy-out
    }
    return res;
}

void Emulator::on_complete_service_irp(PIRP irp) {
    std::shared_ptr<ServiceIrp> s;
    {
        std::lock_guard lk(mu_);
        auto it = service_irps_.find(irp);
        if (it == service_irps_.end() || it->second->done) {
            violations_.push_back("StorPortCompleteServiceIrp on an IRP that is not pending");
            return;
        }
        s = it->second;
        if (irp->IoStatus.Status == STATUS_PENDING) violations_.push_back("service IRP completed with STATUS_PENDING");
        for (PVOID p : irp->Tail.Overlay.DriverContext)
            if (p != kStorPortsContext) {
                violations_.push_back("the miniport wrote Tail.Overlay.DriverContext of a service IRP (StorPort's)");
                break;
            }
        s->done = true;
    }
    s->cv.notify_all();
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

void Emulator::close_handle(int process) {
    std::shared_ptr<int> handle;
    {
        std::lock_guard lk(mu_);
        auto it = handles_.find(process);
        if (it == handles_.end()) return;
        handle = it->second;
        handles_.erase(it);
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
    PDRIVER_DISPATCH routine = driver_.MajorFunction[IRP_MJ_CLEANUP];
    NTSTATUS status = STATUS_SUCCESS;
    {
        AtIrql irql(kPassive, "DRIVER_DISPATCH(IRP_MJ_CLEANUP)");
        // StorPort's own routine is the emulator's, not in a PE image: called directly.
        status = routine == code_.port_cleanup_routine() ? on_port_cleanup(&fdo_, &irp)
                                                         : code_.call_dispatch("DRIVER_DISPATCH(IRP_MJ_CLEANUP)", routine, &fdo_, &irp);
    }
    std::lock_guard lk(mu_);
    --in_service_dispatch_;
    if (port_cleanups_ != port_before + 1)
        violations_.push_back("IRP_MJ_CLEANUP did not reach StorPort's routine once (the miniport must chain it)");
    if (status != irp.IoStatus.Status) violations_.push_back("IRP_MJ_CLEANUP returned another status than it completed with");
    for (auto& [p, s] : service_irps_)
        if (!s->done && s->stack.FileObject == handle.get())
            violations_.push_back("service IRP still pending after IRP_MJ_CLEANUP of its handle");
    cv_.notify_all();
}

// StorPort completes the cleanup IRP; the miniport never sees it.
NTSTATUS Emulator::on_port_cleanup(PDEVICE_OBJECT device, PIRP irp) {
    require_passive("StorPort's IRP_MJ_CLEANUP");
    std::lock_guard lk(mu_);
    if (device != &fdo_) violations_.push_back("StorPort's IRP_MJ_CLEANUP called for another device");
    ++port_cleanups_;
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
