// The send side of an NBD connection: replies framed (nbd/reply.hpp) into each request's head,
// queued, and sent at the end of each pump turn as one gathered write whose data comes straight
// from the SCSI command's buffer or the memory the LUN lent.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <system_error>

#include "nbd/connection.hpp"
#include "nbd/connection_req.hpp"
#include "nbd/protocol.hpp"
#include "nbd/reply.hpp"

namespace vstor::nbd {

// ---- Replies (framing: nbd/reply.hpp) ------------------------------------------------------

void Connection::reply_ok(Req* r) {
    r->head_len = frame_ok(r->head, r->plan.request().cookie);
    r->data_len = 0;
    queue(r);
}

void Connection::reply_error(Req* r) {
    const RequestHeader& h = r->plan.request();
    const std::uint32_t error = r->plan.error();
    spdlog::debug("nbd {}: {} offset {} length {}: error {} ({})", peer_, command_name(h.type), h.offset, h.length,
                  error, r->plan.why());
    r->head_len = frame_error(r->head, plan_.limits.structured, h.cookie, error, r->plan.why());
    r->data_len = 0;
    queue(r);
}

void Connection::reply_read(Req* r) {
    const RequestHeader& h = r->plan.request();
    r->head_len = frame_read(r->head, plan_.limits.structured, h.cookie, h.offset, h.length);
    r->data_len = h.length;
    queue(r);
}

void Connection::reply_block_status(Req* r) {
    auto& buf = r->plan.buffer();
    r->head_len = frame_block_status(r->head, r->plan.request().cookie, r->plan.extents(), buf);
    r->data_len = buf.size();
    queue(r);
}

void Connection::queue(Req* r) {
    if (closed_) return recycle(r);
    wq_.push_back(r);  // sent at the end of the pump turn (flush_writes)
}

void Connection::flush_writes() {
    if (wq_.empty() || closed_ || write_pending_) return;
    std::swap(writing_, wq_);
    iov_.clear();
    std::size_t total = 0;
    for (Req* r : writing_) {
        iov_.emplace_back(r->head.data(), r->head_len);
        total += r->head_len + r->data_len;
        if (!r->data_len) continue;
        if (r->done.data_view) {  // a read whose data the LUN lent
            for (const auto& piece : r->done.data_view->pieces) iov_.emplace_back(piece.data(), piece.size());
        } else {
            iov_.emplace_back(r->plan.buffer().data(), r->data_len);
        }
    }
    // Usually the socket takes the whole batch at once: no async operation, no wake-up.
    std::error_code ec;
    const std::size_t sent = stream_.write_now(iov_, ec);
    if (ec || sent == total) {
        written();
        if (ec) return close("write failed: " + ec.message());
        pump_again_ = true;  // requests were freed: reading may go on
        return;
    }
    skip_sent(sent);
    write_pending_ = true;
    auto self = shared_from_this();
    stream_.write(iov_, [this, self](std::error_code ec, std::size_t) {
        write_pending_ = false;
        written();
        if (closed_) return;
        if (ec) return close("write failed: " + ec.message());
        pump();
    });
}

void Connection::skip_sent(std::size_t n) {
    std::size_t k = 0;
    while (k < iov_.size() && n >= iov_[k].size()) n -= iov_[k++].size();
    iov_.erase(iov_.begin(), iov_.begin() + static_cast<std::ptrdiff_t>(k));
    if (n) iov_.front() += n;
}

void Connection::written() {
    for (Req* r : writing_) recycle(r);
    writing_.clear();
}

}  // namespace vstor::nbd
