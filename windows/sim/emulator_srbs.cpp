// The emulated storage stack's SRBs: building and issuing them through HwStartIo (held at the
// queue depth), BUSY re-issue, RequestComplete and its checks, bus resets.
#include "storport_sim.hpp"

#include <algorithm>
#include <cstring>

#include "emulator_internal.hpp"

namespace vstor::storport_sim {

RequestPtr Emulator::start(std::uint8_t target, std::uint8_t lun, std::span<const std::uint8_t> cdb,
                           ULONG direction_flags, std::uint32_t length, const void* data_out, ULONG timeout_s,
                           std::function<void(Request&)> on_complete) {
    auto r = std::make_shared<Request>();
    r->requested_length = length;
    r->data.assign(length + kGuard, 0);
    std::fill(r->data.begin() + length, r->data.end(), kGuardByte);
    if (data_out && length) std::memcpy(r->data.data(), data_out, length);
    r->on_complete = std::move(on_complete);
    SCSI_REQUEST_BLOCK& s = r->srb;
    s.Length = sizeof(SCSI_REQUEST_BLOCK);
    s.Function = SRB_FUNCTION_EXECUTE_SCSI;
    s.PathId = 0;
    s.TargetId = target;
    s.Lun = lun;
    s.QueueAction = SRB_SIMPLE_TAG_REQUEST;
    s.CdbLength = static_cast<UCHAR>(std::min<std::size_t>(cdb.size(), sizeof(s.Cdb)));
    std::memcpy(s.Cdb, cdb.data(), s.CdbLength);
    s.SenseInfoBufferLength = static_cast<UCHAR>(r->sense.size());
    s.SenseInfoBuffer = r->sense.data();
    s.SrbFlags = direction_flags;
    s.DataTransferLength = length;
    s.DataBuffer = length ? r->data.data() : nullptr;
    s.TimeOutValue = timeout_s;
    s.OriginalRequest = r.get();
    {
        std::unique_lock lk(mu_);
        const auto key = std::make_pair(int{target}, int{lun});
        // StorPort holds requests beyond the queue depth, and all of them while powered down.
        cv_.wait(lk, [&] { return (per_lun_[key] < queue_depth() && !paused_) || adapter_stopping_; });
        if (adapter_stopping_ || !started_) {
            // The device is being removed: the port driver fails the request itself.
            s.SrbStatus = SRB_STATUS_NO_DEVICE;
            r->completed = true;
            return r;
        }
        ++per_lun_[key];
        per_lun_max_[key] = std::max(per_lun_max_[key], per_lun_[key]);
        r->issued = std::chrono::steady_clock::now();
        outstanding_[&r->srb] = r;
        ++in_start_io_;
    }
    {
        AtIrql irql(kDispatch, "HwStartIo");
        init_.HwStartIo(extension_.data(), &r->srb);  // no StorPort lock held (virtual miniport)
    }
    {
        std::lock_guard lk(mu_);
        --in_start_io_;
    }
    cv_.notify_all();
    return r;
}

// A BUSY SRB issued again, as StorPort does (Options::retry_busy). During removal the port driver
// fails it itself.
void Emulator::reissue(const RequestPtr& r) {
    SCSI_REQUEST_BLOCK& s = r->srb;
    {
        std::lock_guard lk(mu_);
        if (adapter_stopping_ || !started_) {
            s.SrbStatus = SRB_STATUS_NO_DEVICE;
            s.DataTransferLength = 0;
        } else {
            s.SrbStatus = SRB_STATUS_PENDING;
            s.ScsiStatus = 0;
            s.DataTransferLength = r->requested_length;
            ++per_lun_[{s.TargetId, s.Lun}];
            outstanding_[&s] = r;
            ++in_start_io_;
        }
    }
    if (s.SrbStatus == SRB_STATUS_NO_DEVICE) {
        if (r->on_complete) r->on_complete(*r);
        {
            std::lock_guard lk(mu_);
            r->completed = true;
        }
        cv_.notify_all();
        return;
    }
    {
        AtIrql irql(kDispatch, "HwStartIo");
        init_.HwStartIo(extension_.data(), &s);
    }
    {
        std::lock_guard lk(mu_);
        --in_start_io_;
    }
    cv_.notify_all();
}

// A non-SCSI SRB (PnP, reset, power) into HwStartIo, outstanding until the driver completes it.
RequestPtr Emulator::start_io(const RequestPtr& r, std::uint8_t target, std::uint8_t lun) {
    {
        std::lock_guard lk(mu_);
        r->issued = std::chrono::steady_clock::now();
        outstanding_[&r->srb] = r;
        ++per_lun_[{target, lun}];
    }
    {
        AtIrql irql(kDispatch, "HwStartIo");
        init_.HwStartIo(extension_.data(), &r->srb);
    }
    return r;
}

RequestPtr Emulator::start_function(std::uint8_t function, std::uint8_t target, std::uint8_t lun,
                                    PSCSI_REQUEST_BLOCK next) {
    auto r = std::make_shared<Request>();
    r->data.assign(kGuard, kGuardByte);
    r->srb.Length = sizeof(SCSI_REQUEST_BLOCK);
    r->srb.Function = function;
    r->srb.TargetId = target;
    r->srb.Lun = lun;
    r->srb.NextSrb = next;
    r->srb.TimeOutValue = 30;
    return start_io(r, target, lun);
}

RequestPtr Emulator::start_pnp(std::uint8_t target, std::uint8_t lun, STOR_PNP_ACTION action, bool adapter_request,
                               std::uint32_t length) {
    auto r = std::make_shared<Request>();
    r->requested_length = length;
    r->data.assign(length + kGuard, 0);
    std::fill(r->data.begin() + length, r->data.end(), kGuardByte);
    SCSI_PNP_REQUEST_BLOCK pnp{};
    pnp.Length = sizeof(SCSI_PNP_REQUEST_BLOCK);
    pnp.Function = SRB_FUNCTION_PNP;
    pnp.TargetId = target;
    pnp.Lun = lun;
    pnp.PnPAction = action;
    pnp.SrbFlags = length ? SRB_FLAGS_DATA_IN : 0;
    pnp.DataTransferLength = length;
    pnp.DataBuffer = length ? r->data.data() : nullptr;
    pnp.TimeOutValue = 30;
    pnp.SrbPnPFlags = adapter_request ? SRB_PNP_FLAGS_ADAPTER_REQUEST : 0;
    std::memcpy(&r->srb, &pnp, sizeof(pnp));
    return start_io(r, target, lun);
}

bool Emulator::wait(const RequestPtr& r, std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [&] { return r->completed.load(); });
}

RequestPtr Emulator::execute(std::uint8_t target, std::uint8_t lun, std::span<const std::uint8_t> cdb,
                             ULONG direction_flags, std::uint32_t length, const void* data_out) {
    auto r = start(target, lun, cdb, direction_flags, length, data_out);
    if (!wait(r, std::chrono::seconds(60))) violation("SRB not completed within 60 s");
    return r;
}

void Emulator::on_request_complete(PSCSI_REQUEST_BLOCK srb) {
    RequestPtr r;
    {
        std::lock_guard lk(mu_);
        auto it = outstanding_.find(srb);
        if (it == outstanding_.end()) {
            violations_.push_back("RequestComplete for an SRB that is not outstanding (completed twice?)");
            return;
        }
        r = it->second;
        outstanding_.erase(it);
        --per_lun_[{srb->TargetId, srb->Lun}];
        if (SRB_STATUS(srb->SrbStatus) == SRB_STATUS_PENDING)
            violations_.push_back("SRB completed with SRB_STATUS_PENDING");
        if (srb->DataTransferLength > r->requested_length)
            violations_.push_back("DataTransferLength grew on completion");
        r->completed_at = std::chrono::steady_clock::now();
        if (options_.retry_busy && SRB_STATUS(srb->SrbStatus) == SRB_STATUS_BUSY &&
            srb->Function == SRB_FUNCTION_EXECUTE_SCSI && r->busy_retries < kMaxBusyRetries) {
            // StorPort keeps a BUSY request and issues it again a little later (watchdog_loop);
            // the caller sees it complete only then.
            ++r->busy_retries;
            ++busy_retries_;
            r->retry_at = r->completed_at + std::chrono::milliseconds(50);
            busy_.push_back(r);
            return;
        }
    }
    if (r->on_complete) r->on_complete(*r);
    {
        std::lock_guard lk(mu_);
        r->completed = true;
    }
    cv_.notify_all();
}

void Emulator::reset_bus(std::uint8_t path_id) {
    {
        AtIrql irql(kDispatch, "HwResetBus");
        init_.HwResetBus(extension_.data(), path_id);
    }
    std::lock_guard lk(mu_);
    for (auto& [srb, r] : outstanding_)
        if (srb->PathId == path_id && srb->Function == SRB_FUNCTION_EXECUTE_SCSI)
            violations_.push_back("SRB still outstanding after HwResetBus returned");
}

std::size_t Emulator::outstanding() const {
    std::lock_guard lk(mu_);
    return outstanding_.size();
}

std::size_t Emulator::outstanding(std::uint8_t target, std::uint8_t lun) const {
    std::lock_guard lk(mu_);
    auto it = per_lun_.find({target, lun});
    return it == per_lun_.end() ? 0 : it->second;
}

std::size_t Emulator::max_outstanding_seen(std::uint8_t target, std::uint8_t lun) const {
    std::lock_guard lk(mu_);
    auto it = per_lun_max_.find({target, lun});
    return it == per_lun_max_.end() ? 0 : it->second;
}

}  // namespace vstor::storport_sim
