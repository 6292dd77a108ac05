// Receiving PDUs. Bytes are read in as large pieces as the socket has (one read often carries
// many PDUs at queue depth > 1) and every complete PDU in the buffer is handled before reading
// again. The data segment of a Data-Out, and a SCSI Command's immediate data, does not pass
// through the receive buffer and a PDU: once the header is in, the command is looked up and the
// segment goes straight into the command's buffer at its offset (what of it the last read
// brought along is copied from rx_, a large rest is read from the socket into place).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "iscsi/connection.hpp"
#include "iscsi/connection_cmd.hpp"
#include "iscsi/server_impl.hpp"

namespace vstor::iscsi {

namespace {
// A rest of a data segment at least this large is read from the socket straight into place;
// a smaller one comes with the next read into rx_, which also brings the PDUs that follow.
constexpr std::size_t kDirectReadMin = 8 * 1024;
// Reads handled in a row on one connection before it lets the loop run other handlers.
constexpr int kInlineReads = 16;
}  // namespace

void Connection::read_more() {
    for (int reads = 0; !closed_ && !paused_; ++reads) {
        // Compact, and grow only when one PDU is larger than the whole buffer.
        if (rx_begin_ > 0) {
            std::memmove(rx_.data(), rx_.data() + rx_begin_, rx_end_ - rx_begin_);
            rx_end_ -= rx_begin_;
            rx_begin_ = 0;
        }
        if (rx_end_ == rx_.size()) rx_.resize(rx_.size() * 2);
        if (!login_ && rx_.size() < kFullFeatureRxBuffer) rx_.resize(kFullFeatureRxBuffer);  // logged in: read in large pieces
        const auto room = asio::buffer(rx_.data() + rx_end_, rx_.size() - rx_end_);
        if constexpr (!kInlineSocketIo) {
            socket_.async_read_some(room, [this, self = shared_from_this()](std::error_code ec, std::size_t n) {
                if (ec) return close(ec == asio::error::eof ? "peer closed the connection" : ec.message());
                rx_end_ += n;
                if (handle_received()) read_more();
            });
            return;
        }
        if (reads == kInlineReads) {  // let the loop's other connections have a turn
            asio::post(socket_.get_executor(), [this, self = shared_from_this()] { read_more(); });
            return;
        }
        // The socket is non-blocking (start()): what it holds is read and handled here, without
        // a handler posted through the loop's queue; only an empty socket waits for epoll.
        std::error_code ec;
        std::size_t n = socket_.read_some(room, ec);
        if (ec == asio::error::would_block && !login_ && cmds_.empty()) n = busy_poll(room, ec);
        if (ec == asio::error::would_block) {
            // Nothing arrived since this read (edge-triggered epoll reports anything later).
            socket_.async_wait(asio::socket_base::wait_read, [this, self = shared_from_this()](std::error_code ec) {
                if (ec) return close(ec.message());
                read_more();
            });
            return;
        }
        if (ec) return close(ec == asio::error::eof ? "peer closed the connection" : ec.message());
        rx_end_ += n;
        if (!handle_received()) return;
    }
}

// The socket ran dry and nothing is in flight: at queue depth 1 the initiator is reading the last
// answer and sends its next command within microseconds, and going to sleep in epoll_wait and
// being woken can cost more than that on a VM (docs/performance.md, "iSCSI at queue depth 1").
// So the socket is read again for up to busy_poll_us (off by default), yielding the CPU before
// each try, so that a task woken on this CPU (often the initiator itself) runs first. A poll
// that runs out is a sign of an initiator that is not that close: the next 1, 3, 7 ... 63 waits
// then sleep at once (an idle connection costs one poll now and then, not one per command).
std::size_t Connection::busy_poll(asio::mutable_buffer room, std::error_code& ec) {
    const std::uint32_t us = server_.config().busy_poll_us;
    if (us == 0) return 0;
    if (poll_skip_ > 0) {
        --poll_skip_;
        return 0;
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(us);
    do {
        std::this_thread::yield();
        const std::size_t n = socket_.read_some(room, ec);
        if (ec != asio::error::would_block) {
            poll_backoff_ = 0;
            return n;
        }
    } while (std::chrono::steady_clock::now() < until);
    poll_backoff_ = std::min(poll_backoff_ * 2 + 1, 63u);
    poll_skip_ = poll_backoff_;
    return 0;
}

// Everything this turn sends (responses of commands that completed inline, R2Ts) goes out with
// one gathered write at its end, not the first PDU alone and the rest after it. False when
// something else resumes reading: a data segment read into place, a held CHAP answer, a close.
bool Connection::handle_received() {
    corked_ = true;
    const bool reading = handle_pdus();
    corked_ = false;
    if (!writing_ && !write_queue_.empty()) flush_writes();
    if (reading) return false;  // a data segment is being read into place: its completion comes back here
    if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
    return !closed_ && !paused_;  // paused: the CHAP delay timer resumes
}

// Handles every complete PDU in rx_; true if it stopped for a data segment read into place.
bool Connection::handle_pdus() {
    while (!closed_ && !paused_) {
        if (incoming_) {
            const Rx r = continue_incoming();
            if (r == Rx::reading) return true;
            if (r == Rx::need_bytes) break;
            continue;
        }
        const std::size_t avail = rx_end_ - rx_begin_;
        if (avail < kBhsLength) break;
        const std::span<const std::uint8_t, kBhsLength> bhs(rx_.data() + rx_begin_, kBhsLength);
        const std::size_t dl = data_segment_length(bhs);
        // Login PDUs may carry up to 8192 bytes before MaxRecvDataSegmentLength is known.
        const std::size_t limit = session_ ? params_.max_recv_data_segment_length_target
                                           : std::max<std::size_t>(8192, TargetLimits::max_recv_data_segment_length);
        if (dl > limit) {
            spdlog::warn("iscsi {}: data segment of {} bytes exceeds MaxRecvDataSegmentLength {}", peer_, dl, limit);
            Pdu p;
            std::copy(bhs.begin(), bhs.end(), p.bhs.begin());
            reject(p, reject_reason::protocol_error);
            close("oversized data segment");
            return false;
        }
        if (session_ && dl) {
            const Rx r = start_incoming(bhs, avail);
            if (r == Rx::reading) return true;
            if (r == Rx::need_bytes) break;
            if (r == Rx::next) continue;
        }
        if (!decode_one(avail)) break;
    }
    return false;
}

// The PDU at rx_begin_, decoded whole (data into Pdu::data) and handled; false if not all in.
bool Connection::decode_one(std::size_t avail) {
    const std::span<const std::uint8_t, kBhsLength> bhs(rx_.data() + rx_begin_, kBhsLength);
    const bool hd = session_ ? params_.header_digest : false;
    const bool dd = session_ ? params_.data_digest : false;
    const std::size_t rest = rest_length(bhs, hd, dd);
    if (avail < kBhsLength + rest) {
        if (kBhsLength + rest > rx_.size()) rx_.resize(kBhsLength + rest);  // room for this PDU
        return false;
    }
    Pdu p;
    std::copy(bhs.begin(), bhs.end(), p.bhs.begin());
    const std::span<const std::uint8_t> rest_bytes(rx_.data() + rx_begin_ + kBhsLength, rest);
    rx_begin_ += kBhsLength + rest;
    switch (decode_rest(p, rest_bytes, hd, dd, 1u << 24)) {
        case DecodeError::none:
            on_pdu(std::move(p));
            break;
        case DecodeError::header_digest:
            // RFC 7143 7.8: a header digest error means the PDU boundaries cannot be trusted.
            close("header digest error");
            break;
        case DecodeError::data_digest:
            spdlog::warn("iscsi {}: data digest error on {}", peer_, opcode_name(p.opcode()));
            reject(p, reject_reason::data_digest_error);
            // ERL 0 cannot recover lost Data-Out: the connection must go (RFC 7143 7.9).
            if (p.opcode() == op::data_out) close("data digest error on Data-Out");
            break;
        default:
            close("malformed PDU");
    }
    return true;
}

// A full-feature PDU with a data segment: if its data belongs in a command's buffer, take its
// header and receive the data into place (Rx::next once handled or under way); Rx::unplaced
// leaves it to decode_one.
Connection::Rx Connection::start_incoming(std::span<const std::uint8_t, kBhsLength> bhs, std::size_t avail) {
    const std::size_t head = header_rest_length(bhs, params_.header_digest);
    if (avail < kBhsLength + head) {
        if (kBhsLength + head > rx_.size()) rx_.resize(kBhsLength + head);
        return Rx::need_bytes;
    }
    Incoming in;
    std::copy(bhs.begin(), bhs.end(), in.pdu.bhs.begin());
    in.dest = data_destination(in.pdu, in.cmd, in.pdu.placed_buffer);
    if (!in.dest) return Rx::unplaced;
    if (decode_header(in.pdu, {rx_.data() + rx_begin_ + kBhsLength, head}, params_.header_digest) !=
        DecodeError::none) {
        close("header digest error");  // RFC 7143 7.8
        return Rx::next;
    }
    rx_begin_ += kBhsLength + head;
    in.len = data_segment_length(bhs);
    in.pdu.placed_len = static_cast<std::uint32_t>(in.len);
    in.data_digest = params_.data_digest;
    in.trailer = trailer_length(in.len, in.data_digest);
    incoming_.emplace(std::move(in));
    return continue_incoming();
}

// Where the data segment of `pdu` (header only) goes: into its command's buffer at the offset
// for a Data-Out that on_data_out will accept (`cmd` set), or into a new command buffer
// (`buffer`, sized for the whole transfer) for the immediate data of a write that
// on_scsi_command will accept. Null for anything else: it takes the plain path and is refused
// there as before.
std::uint8_t* Connection::data_destination(const Pdu& pdu, std::shared_ptr<Cmd>& cmd, util::UninitBytes& buffer) {
    const std::size_t dl = data_segment_length(pdu.bhs);
    if (session_->discovery()) return nullptr;
    if (pdu.opcode() == op::scsi_command) {
        const auto h = pdu.as<ScsiCommandBhs>();
        const std::uint32_t edtl = h.expected_data_transfer_length();
        if (!h.write() || h.read() || dl > edtl || edtl > kMaxCommandBytes || !params_.immediate_data ||
            dl > params_.first_burst_length || cmds_.count(h.itt()))
            return nullptr;
        buffer.resize(edtl);
        return buffer.data();
    }
    if (pdu.opcode() != op::data_out) return nullptr;
    const auto h = pdu.as<DataOutBhs>();
    const auto it = cmds_.find(h.itt());
    if (it == cmds_.end()) return nullptr;
    const Cmd& c = *it->second;
    const std::uint64_t end = std::uint64_t{h.buffer_offset()} + dl;
    if (!c.write || c.submitted || c.dead || end > c.edtl) return nullptr;
    if (h.ttt() == kReservedTag) {
        if (end > c.unsolicited_end) return nullptr;
    } else {
        const auto r = c.r2ts.find(h.ttt());
        if (r == c.r2ts.end() || h.buffer_offset() < r->second.offset ||
            end > std::uint64_t{r->second.offset} + r->second.length)
            return nullptr;
    }
    cmd = it->second;
    return cmd->buffer.data() + h.buffer_offset();
}

// Moves the incoming data segment on: what rx_ holds is copied into place, a large rest is read
// straight from the socket; once data, padding and digest are in, the PDU is handled.
Connection::Rx Connection::continue_incoming() {
    auto& in = *incoming_;
    const std::size_t take = std::min(rx_end_ - rx_begin_, in.len - in.got);
    std::memcpy(in.dest + in.got, rx_.data() + rx_begin_, take);
    in.got += take;
    rx_begin_ += take;
    if (in.got < in.len) {
        if (in.len - in.got < kDirectReadMin) return Rx::need_bytes;
        rx_begin_ = rx_end_ = 0;  // all of rx_ was taken
        asio::async_read(socket_, asio::buffer(in.dest + in.got, in.len - in.got),
                         [this, self = shared_from_this()](std::error_code ec, std::size_t n) {
                             if (ec) return close(ec == asio::error::eof ? "peer closed the connection" : ec.message());
                             if (closed_) return;
                             incoming_->got += n;
                             if (handle_received()) read_more();
                         });
        return Rx::reading;
    }
    if (rx_end_ - rx_begin_ < in.trailer) return Rx::need_bytes;
    const std::span<const std::uint8_t> trailer(rx_.data() + rx_begin_, in.trailer);
    rx_begin_ += in.trailer;
    const bool digest_ok = !in.data_digest || data_digest_matches({in.dest, in.len}, trailer);
    Pdu p = std::move(in.pdu);
    incoming_.reset();
    if (!digest_ok) {
        spdlog::warn("iscsi {}: data digest error on {}", peer_, opcode_name(p.opcode()));
        reject(p, reject_reason::data_digest_error);
        // ERL 0 cannot recover lost Data-Out: the connection must go (RFC 7143 7.9).
        if (p.opcode() == op::data_out) close("data digest error on Data-Out");
        return Rx::next;
    }
    on_pdu(std::move(p));
    return Rx::next;
}

}  // namespace vstor::iscsi
