// SCSI Command, Data-Out/R2T and Data-In/SCSI Response handling (RFC 7143 11.2-11.8).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "iscsi/connection.hpp"
#include "iscsi/connection_cmd.hpp"
#include "iscsi/server_impl.hpp"
#include "vstor/sense.hpp"

namespace vstor::iscsi {

namespace {
TaskAttribute task_attribute(std::uint8_t bits) {
    switch (bits & 7) {
        case 2: return TaskAttribute::ordered;
        case 3: return TaskAttribute::head_of_queue;
        case 4: return TaskAttribute::aca;
        default: return TaskAttribute::simple;  // 0 untagged, 1 simple
    }
}

}  // namespace

void Connection::on_scsi_command(Pdu& pdu) {
    const auto h = pdu.as<ScsiCommandBhs>();
    const std::uint32_t itt = h.itt();
    if (cmds_.count(itt)) return reject(pdu, reject_reason::task_in_progress);
    auto cmd = std::make_shared<Cmd>();
    cmd->itt = itt;
    cmd->cmdsn = h.cmdsn();
    cmd->edtl = h.expected_data_transfer_length();
    cmd->read = h.read();
    cmd->write = h.write();
    auto& c = cmd->command;
    c.nexus = session_->nexus();
    c.lun = h.lun();
    c.tag = itt;
    c.attr = task_attribute(h.task_attribute());
    std::memcpy(c.cdb.data(), h.cdb(), h.kCdbLength);
    c.cdb_len = h.kCdbLength;
    // Extended CDB AHS (type 1) carries CDB bytes beyond 16 (RFC 7143 11.3.4).
    for (std::size_t pos = 0; pos + 4 <= pdu.ahs.size();) {
        const std::size_t len = util::load_be16(&pdu.ahs[pos]);
        const std::uint8_t type = pdu.ahs[pos + 2];
        if (pos + 3 + len > pdu.ahs.size()) return reject(pdu, reject_reason::invalid_pdu_field);
        if (type == 1 && len > 1) {
            const std::size_t extra = std::min<std::size_t>(len - 1, c.cdb.size() - 16);
            std::memcpy(c.cdb.data() + 16, &pdu.ahs[pos + 4], extra);
            c.cdb_len = static_cast<std::uint8_t>(16 + extra);
        }
        pos += padded(3 + len);
    }
    if (cmd->read && cmd->write) {
        // Bidirectional commands are not implemented by any vstor command.
        return send_check_condition(itt, cmd->edtl, scsi::sense::invalid_field_in_cdb(0));
    }
    if (!cmd->write && pdu.data_length()) return reject(pdu, reject_reason::protocol_error);
    if (cmd->edtl > kMaxCommandBytes) {
        spdlog::warn("iscsi {}: command with {} bytes expected refused", peer_, cmd->edtl);
        return send_check_condition(itt, cmd->edtl, scsi::sense::invalid_field_in_information_unit());
    }
    c.expected_length = cmd->edtl;
    c.dir = cmd->write ? DataDirection::write : (cmd->read ? DataDirection::read : DataDirection::none);
    // Large reads go out from the LUN's memory when its backend lends it (Backend::read_view):
    // the engine keeps the task in its task set until the view is let go, i.e. sent, so an
    // ORDERED write behind it waits (docs/performance.md). Lending 4 KiB costs more than a copy.
    // Not with data digests: the CRC reads the data in user space, where a lent file page
    // truncated meanwhile is SIGBUS (the kernel's copy gets EFAULT), as under NBD's TLS.
    c.accept_data_view = cmd->read && cmd->edtl >= kLendFrom && !params_.data_digest;
    // Immediate data may already be in place (connection_rx.cpp): its buffer becomes the command's.
    if (pdu.placed_len) cmd->buffer = std::move(pdu.placed_buffer);
    cmd->buffer.resize(cmd->edtl);
    c.data = std::as_writable_bytes(std::span(cmd->buffer));

    if (cmd->write && cmd->edtl > 0) {
        const auto immediate = static_cast<std::uint32_t>(pdu.data_length());
        if (immediate > cmd->edtl || immediate > params_.first_burst_length ||
            (immediate && !params_.immediate_data))
            return reject(pdu, reject_reason::protocol_error);
        if (immediate && !pdu.placed_len) std::memcpy(cmd->buffer.data(), pdu.data.data(), immediate);
        cmd->received = immediate;
        const std::uint32_t first_burst = std::min(params_.first_burst_length, cmd->edtl);
        // Unsolicited data: with InitialR2T=No (and the F bit clear), Data-Out may follow up to
        // FirstBurstLength without an R2T.
        cmd->unsolicited_end = (!params_.initial_r2t && !h.final_bit()) ? first_burst : immediate;
        cmd->r2t_next = cmd->unsolicited_end;
        // What may arrive unasked is counted now (it cannot be refused); the rest waits for the
        // budget, behind any older write of this connection (docs/iscsi.md "Write buffer budget").
        cmd->hold = util::WriteHold(session_->write_account());
        cmd->hold.force(cmd->unsolicited_end);
        cmds_[itt] = cmd;
        if (cmd->unsolicited_end < cmd->edtl) {
            budget_wait_.push_back(cmd);
            grant_waiting();
        } else {
            cmd->granted = true;
        }
        if (cmd->received >= cmd->edtl) submit(cmd);
        return;
    }
    cmds_[itt] = cmd;
    submit(cmd);
}

void Connection::grant_waiting() {
    Cork cork(*this);  // the R2Ts granted go out in one write
    auto weak = weak_from_this();
    auto exec = socket_.get_executor();
    while (!budget_wait_.empty() && !closed_) {
        auto cmd = budget_wait_.front().lock();
        if (!cmd || cmd->dead) {
            budget_wait_.pop_front();
            continue;
        }
        const bool ok = cmd->hold.try_grant(cmd->edtl - cmd->unsolicited_end, this, [weak, exec] {
            asio::post(exec, [weak] {
                if (auto self = weak.lock()) self->grant_waiting();
            });
        });
        if (!ok) return;  // woken when bytes are given back
        budget_wait_.pop_front();
        cmd->granted = true;
        send_r2ts(*cmd);
    }
}

void Connection::send_r2ts(Cmd& cmd) {
    if (!cmd.granted) return;
    while (cmd.r2ts.size() < params_.max_outstanding_r2t && cmd.r2t_next < cmd.edtl) {
        const std::uint32_t len = std::min(params_.max_burst_length, cmd.edtl - cmd.r2t_next);
        std::uint32_t ttt = next_ttt_++;
        if (ttt == kReservedTag) ttt = next_ttt_++;
        cmd.r2ts[ttt] = Cmd::R2t{cmd.r2t_next, len};
        Pdu r;
        const auto h = r.init<R2tBhs>();
        h.set_final(true);
        h.set_lun(cmd.command.lun);
        h.set_itt(cmd.itt);
        h.set_ttt(ttt);
        h.set_statsn(statsn_);
        fill_sn(r, false);
        h.set_r2tsn(cmd.r2tsn++);
        h.set_buffer_offset(cmd.r2t_next);
        h.set_desired_data_transfer_length(len);
        ++cmd.data_pdus_sent;
        cmd.r2t_next += len;
        send(r);
    }
}

void Connection::on_data_out(const Pdu& pdu) {
    auto it = cmds_.find(pdu.itt());
    if (it == cmds_.end() || !it->second->write || it->second->submitted) {
        spdlog::warn("iscsi {}: Data-Out for unknown task {:#x}", peer_, pdu.itt());
        return reject(pdu, reject_reason::invalid_pdu_field);
    }
    auto cmd = it->second;
    const auto h = pdu.as<DataOutBhs>();
    const std::uint32_t ttt = h.ttt();
    const std::uint32_t offset = h.buffer_offset();
    const auto len = static_cast<std::uint32_t>(pdu.data_length());
    const std::uint64_t end = std::uint64_t{offset} + len;
    if (end > cmd->edtl) return reject(pdu, reject_reason::protocol_error);
    const std::uint32_t datasn = h.datasn();
    // ERL 0 cannot recover a lost or misordered Data-Out (RFC 7143 7.1.4.1): the command ends
    // with ABORTED COMMAND / DATA PHASE ERROR and its remaining Data-Out PDUs are rejected.
    auto datasn_error = [&] {
        spdlog::warn("iscsi {}: Data-Out DataSN {} out of order for task {:#x}", peer_, datasn, cmd->itt);
        cmd->dead = true;
        cmds_.erase(cmd->itt);
        cmd->hold.release();
        send_check_condition(cmd->itt, cmd->edtl, scsi::sense::data_phase_error());
    };
    if (ttt == kReservedTag) {
        if (end > cmd->unsolicited_end) return reject(pdu, reject_reason::protocol_error);
        if (datasn != cmd->unsolicited_datasn++) return datasn_error();
    } else {
        auto r = cmd->r2ts.find(ttt);
        if (r == cmd->r2ts.end() || offset < r->second.offset ||
            end > std::uint64_t{r->second.offset} + r->second.length)
            return reject(pdu, reject_reason::invalid_pdu_field);
        if (datasn != r->second.next_datasn++) return datasn_error();
        r->second.received += len;
        if (h.final_bit() || r->second.received >= r->second.length) cmd->r2ts.erase(r);
    }
    // Placed data is already in the buffer at `offset` (connection_rx.cpp checked the same ranges).
    if (len && !pdu.placed_len) std::memcpy(cmd->buffer.data() + offset, pdu.data.data(), len);
    cmd->received += len;
    send_r2ts(*cmd);
    if (cmd->received >= cmd->edtl && cmd->r2ts.empty() && cmd->r2t_next >= cmd->edtl) submit(cmd);
}

void Connection::submit(const std::shared_ptr<Cmd>& cmd) {
    cmd->submitted = true;
    session_->task_started();
    auto weak = weak_from_this();
    auto session = session_;
    auto exec = socket_.get_executor();
    {
        // A completion that arrives inside this submit (a mem LUN, a file in memory) is answered
        // as it returns, without a trip through the loop's queue; any other is posted.
        InlineDone::Submitting scope(inline_done_, cmd.get());
        server_.adapter().submit(cmd->command, [weak, cmd, session, exec](const Completion& c) {
            session->task_finished();
            if (InlineDone::keep(cmd.get(), cmd.get())) return void(cmd->done.emplace(c));
            asio::post(exec, [weak, cmd, c] {
                if (auto self = weak.lock()) self->complete_posted(cmd, c);
            });
        });
    }
    // The scope kept nothing but this command's completion (a nested submit runs its own).
    // Taken out of the command: a lent view must go when its Data-In has been sent.
    inline_done_.run([&](Cmd* kept) { complete(cmd, *std::exchange(kept->done, std::nullopt)); });
}

// Sent at once, each response of an RBD LUN at queue depth 32 cost a sendmsg of its own (0.97 a
// write, against 0.10 before the socket calls were made inline; docs/performance.md, RBD LUNs).
void Connection::complete_posted(const std::shared_ptr<Cmd>& cmd, const Completion& c) {
    const bool outer = std::exchange(corked_, true);  // complete()'s own cork does not send
    complete(cmd, c);
    corked_ = outer;
    if (flush_posted_ || write_queue_.empty()) return;
    flush_posted_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        self->flush_posted_ = false;
        if (!self->writing_ && !self->corked_ && !self->write_queue_.empty()) self->flush_writes();
    });
}

struct Connection::DataInStatus {
    std::uint8_t status;
    bool overflow, underflow;
    std::uint32_t residual;
};

void Connection::complete(const std::shared_ptr<Cmd>& cmd, const Completion& c) {
    if (cmd->dead || closed_) return;
    Cork cork(*this);  // its Data-In PDUs and response go out in one write
    cmds_.erase(cmd->itt);
    // Given back before the response goes out, so that its MaxCmdSN reflects the room.
    cmd->hold.release();
    if (c.aborted) return;  // aborted by a TMF of this initiator: no response (RFC 7143 11.5.1)
    if (session_) {
        auto& st = session_->stats;
        st.commands.fetch_add(1, std::memory_order_relaxed);
        if (cmd->read) st.bytes_out.fetch_add(c.data_in_len, std::memory_order_relaxed);
        else if (c.status == scsi_status::good)
            st.bytes_in.fetch_add(cmd->command.expected_length - static_cast<std::uint32_t>(std::max<std::int64_t>(c.residual, 0)),
                                  std::memory_order_relaxed);
        if (c.status != scsi_status::good) st.errors.fetch_add(1, std::memory_order_relaxed);
    }
    const bool underflow = c.residual > 0;
    const bool overflow = c.residual < 0;
    const auto residual = static_cast<std::uint32_t>(overflow ? -c.residual : c.residual);
    const bool collapse = c.status == scsi_status::good && c.sense_len == 0;
    if (cmd->read && c.data_in_len > 0) {
        if (c.data_view && view_bytes(*c.data_view) < c.data_in_len) {
            spdlog::error("iscsi {}: the LUN lent {} bytes for a read of {}", peer_, view_bytes(*c.data_view),
                          c.data_in_len);
            return close("a LUN lent less data than it read");
        }
        const DataInStatus status{c.status, overflow, underflow, residual};
        cmd->data_pdus_sent += send_data_in(cmd, c, collapse ? &status : nullptr);
        if (collapse) return;
    }
    Pdu r;
    const auto h = r.init<ScsiResponseBhs>();
    h.set_final(true);
    h.set_residual_overflow(overflow);
    h.set_residual_underflow(underflow);
    h.set_response(0x00);  // command completed at target
    h.set_status(c.status);
    h.set_itt(cmd->itt);
    fill_sn(r, true);
    h.set_exp_datasn(cmd->data_pdus_sent);
    h.set_residual_count(residual);
    if (c.sense_len) {
        r.data.resize(2 + c.sense_len);
        util::store_be16(r.data.data(), c.sense_len);
        std::memcpy(r.data.data() + 2, c.sense.data(), c.sense_len);
    }
    send(r);
}

// Data-In PDUs of at most MaxRecvDataSegmentLength (the initiator's), F at the end of each
// MaxBurstLength sequence; the status rides on the last one when `status` is given (phase
// collapse). Returns how many were sent.
std::uint32_t Connection::send_data_in(const std::shared_ptr<Cmd>& cmd, const Completion& c,
                                       const DataInStatus* status) {
    const std::uint32_t seg = params_.max_recv_data_segment_length_initiator;
    const std::uint32_t burst = params_.max_burst_length;
    ViewCursor at{c.data_view.get()};
    std::uint32_t off = 0, datasn = 0;
    while (off < c.data_in_len) {
        const std::uint32_t burst_end = std::min<std::uint32_t>(c.data_in_len, (off / burst + 1) * burst);
        const std::uint32_t n = std::min(seg, burst_end - off);
        const bool last = off + n == c.data_in_len;
        Pdu d;
        const auto h = d.init<DataInBhs>();
        h.set_final(off + n == burst_end);  // end of a sequence (burst)
        if (last && status) {
            h.set_status_present(true);  // S: status in this PDU (phase collapse)
            h.set_residual_overflow(status->overflow);
            h.set_residual_underflow(status->underflow);
            h.set_status(status->status);
            h.set_residual_count(status->residual);
        }
        h.set_lun(cmd->command.lun);
        h.set_itt(cmd->itt);
        h.set_ttt(kReservedTag);
        fill_sn(d, last && status);
        h.set_datasn(datasn++);
        h.set_buffer_offset(off);
        queue_data_in(d, cmd, c, at, off, n);
        off += n;
    }
    return datasn;
}

// One Data-In's data goes out without a copy: from the command's buffer, or from the memory the
// LUN lent (held until sent: only then does the read leave its task set).
void Connection::queue_data_in(Pdu& d, const std::shared_ptr<Cmd>& cmd, const Completion& c, ViewCursor& at,
                               std::uint32_t off, std::uint32_t n) {
    OutBuf out;
    out.data_len = n;
    if (!c.data_view) {
        out.data = cmd->buffer.data() + off;
        out.keep = cmd;
        encode_split(d, std::span<const std::uint8_t>(out.data, n), params_.header_digest, params_.data_digest,
                     out.head, out.tail);
        return send_out(std::move(out));
    }
    // No data digest here: views are not asked for when data digests are on.
    out.view = at;
    out.keep = c.data_view;
    at.take(n, [](const void*, std::size_t) {});
    encode_split(d, n, params_.header_digest, out.head, out.tail);
    send_out(std::move(out));
}

void Connection::send_check_condition(std::uint32_t itt, std::uint32_t edtl, const scsi::Sense& s) {
    std::uint8_t sense[32];
    const std::uint8_t sense_len = scsi::encode_fixed(s, sense, sizeof sense);
    Pdu r;
    const auto h = r.init<ScsiResponseBhs>();
    h.set_final(true);
    h.set_residual_underflow(edtl != 0);
    h.set_status(scsi_status::check_condition);
    h.set_itt(itt);
    fill_sn(r, true);
    h.set_residual_count(edtl);
    r.data.resize(2u + sense_len);
    util::store_be16(r.data.data(), sense_len);
    std::memcpy(r.data.data() + 2, sense, sense_len);
    send(r);
}

}  // namespace vstor::iscsi
