#include "nbd/transmission_plan.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "nbd/protocol.hpp"
#include "vstor/sense.hpp"

namespace vstor::nbd {

namespace {
constexpr int kMaxRetries = 64;  // UNIT ATTENTION / BUSY resubmissions
constexpr std::size_t kLbaStatusDescriptors = 128;
constexpr std::size_t kMaxUnmapDescriptors = 256;  // per UNMAP parameter list this side builds
// Reads this large are sent from the LUN's memory when its backend lends it (Backend::read_view),
// which leaves the kernel's copy into the socket as the only one (docs/performance.md: 20-35%
// faster 1 MiB reads of cached blocks, the same for blocks the cache does not hold). Smaller
// reads are copied: lending costs more than copying 4 KiB.
constexpr std::uint32_t kLendFrom = 64u << 10;
}  // namespace

void TransmissionPlan::reset(const RequestHeader& h) {
    ctx_ = nullptr;
    h_ = h;
    next_lba_ = remaining_ = step_blocks_ = 0;
    error_ = 0;
    why_ = "";
    retries_ = 0;
    probe_ = final_flush_ = flushing_ = false;
    probed_.reset();
    cmd_.accept_data_view = false;
}

Step TransmissionPlan::refuse(std::uint32_t error, const char* why) { return fail(error, why); }

Step TransmissionPlan::fail(std::uint32_t error, const char* why) {
    error_ = error;
    why_ = why;
    return Step::reply_error;
}

Step TransmissionPlan::begin_probe(PlanContext& ctx) {
    ctx_ = &ctx;
    probe_ = true;
    buf_.resize(64);
    cdb_inquiry_vpd(cmd_, 0xb0, std::span(buf_));
    return Step::submit;
}

Step TransmissionPlan::begin(PlanContext& ctx) {
    ctx_ = &ctx;
    const RequestHeader& h = h_;
    const std::uint32_t bs = ctx.limits.block_size;
    const std::uint64_t lba = h.offset / bs;
    const auto blocks = static_cast<std::uint32_t>(h.length / bs);
    switch (h.type) {
        case cmd::read:
            if (!blocks) return Step::reply_read;
            buf_.resize(h.length);
            cdb_read16(cmd_, lba, blocks, std::span(buf_.data(), h.length));
            cmd_.accept_data_view = ctx.lend && h.length >= kLendFrom;
            return Step::submit;
        case cmd::write:
            if (!blocks) return Step::reply_ok;
            cdb_write16(cmd_, lba, blocks, h.flags & cmd_flag::fua, std::span(buf_.data(), h.length));
            return Step::submit;
        case cmd::flush:
            cdb_synchronize_cache16(cmd_);
            return Step::submit;
        case cmd::cache:
            if (!blocks) return Step::reply_ok;
            cdb_pre_fetch16(cmd_, lba, blocks);
            return Step::submit;
        case cmd::write_zeroes:
            // Fast only when it becomes a deallocation (thin LUN, holes allowed); a zero write
            // of every block is not fast, and the client asked to be told instead.
            if ((h.flags & cmd_flag::fast_zero) && !(ctx.limits.thin && !(h.flags & cmd_flag::no_hole)))
                return fail(err::notsup, "zeroing would not be fast on this LUN");
            [[fallthrough]];
        case cmd::trim:
            next_lba_ = lba;
            remaining_ = blocks;
            final_flush_ = h.flags & cmd_flag::fua;
            return next_step();
        case cmd::block_status:
            buf_.resize(8 + 16 * kLbaStatusDescriptors);
            cdb_get_lba_status16(cmd_, lba, std::span(buf_));
            return Step::submit;
        default:
            return fail(err::inval, "unknown command");
    }
}

Step TransmissionPlan::next_step() {
    if (remaining_ > 0) {
        const BlockLimits& lim = ctx_->block_limits;
        if (h_.type == cmd::trim) {
            buf_.resize(8 + 16 * std::min<std::size_t>(lim.max_unmap_descriptors, kMaxUnmapDescriptors));
            step_blocks_ = cdb_unmap(cmd_, next_lba_, remaining_, lim, std::span(buf_));
        } else {
            const std::uint32_t n = write_same_chunk(lim, remaining_);
            // UNMAP bit: deallocate where holes are allowed, on a thin LUN only (a thick one
            // refuses the bit, LBPWS = 0).
            cdb_write_same16(cmd_, next_lba_, n, ctx_->limits.thin && !(h_.flags & cmd_flag::no_hole),
                             std::span(ctx_->zero_block));
            step_blocks_ = n;
        }
        return Step::submit;
    }
    if (final_flush_ && !flushing_) {
        flushing_ = true;
        cdb_synchronize_cache16(cmd_);
        return Step::submit;
    }
    return Step::reply_ok;
}

Step TransmissionPlan::complete(const Completion& c) {
    if (probe_) {
        if (c.status == scsi_status::good)
            probed_ = parse_block_limits(
                std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf_.data()), c.data_in_len));
        return Step::probed;
    }
    const Mapped m = map_completion(c, cmd::changes_data(h_.type));
    if (m.outcome == Outcome::retry) {
        // NBD cannot report a UNIT ATTENTION; the command did not run, so it runs again.
        if (++retries_ <= kMaxRetries) return Step::submit;
        return fail(err::io, "target kept answering UNIT ATTENTION or BUSY");
    }
    if (m.outcome == Outcome::error) return failed_command(c, m.error);
    switch (h_.type) {
        case cmd::read:
            return Step::reply_read;
        case cmd::block_status:
            return extents_from(c);
        case cmd::trim:
        case cmd::write_zeroes:
            if (!flushing_) {
                next_lba_ += step_blocks_;
                remaining_ -= step_blocks_;
            }
            return next_step();
        default:
            return Step::reply_ok;
    }
}

Step TransmissionPlan::failed_command(const Completion& c, std::uint32_t error) {
    const scsi::Sense s = scsi::decode_sense(c.sense_bytes()).value_or(scsi::Sense{});
    spdlog::debug("nbd {}: {} failed: status {:#x} sense {:x}/{:02x}/{:02x} -> error {}", ctx_->peer,
                  command_name(h_.type), c.status, s.key, s.asc, s.ascq, error);
    const char* why = c.status == scsi_status::reservation_conflict ? "reservation conflict"
                      : error == err::perm                          ? "write protected"
                      : error == err::io                            ? "I/O error"
                                                                    : "request refused by the LUN";
    return fail(error, why);
}

Step TransmissionPlan::extents_from(const Completion& c) {
    const std::uint32_t bs = ctx_->limits.block_size;
    const std::uint64_t lba = h_.offset / bs;
    const std::uint64_t end = lba + h_.length / bs;
    lba_status_to_extents(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(buf_.data()), c.data_in_len),
                          lba, end, bs, ctx_->limits.thin, h_.flags & cmd_flag::req_one, extents_);
    // proto.md allows status 0 for the whole range when nothing better is known.
    if (extents_.empty()) extents_.emplace_back(h_.length, 0u);
    return Step::reply_extents;
}

}  // namespace vstor::nbd
