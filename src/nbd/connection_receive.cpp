// The receive side of an NBD connection in transmission: requests parsed from a read-ahead
// buffer, WRITE payloads read into the command's buffer, and the pump turn that starts them,
// answers what completed inline and sends the replies (nbd/connection_send.cpp).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <system_error>

#include "nbd/connection.hpp"
#include "nbd/connection_req.hpp"
#include "nbd/protocol.hpp"
#include "nbd/server_impl.hpp"
#include "util/endian.hpp"

namespace vstor::nbd {

namespace {
constexpr std::size_t kMaxInflight = 128;                 // requests per connection before reading pauses
constexpr std::uint64_t kMaxInflightBytes = 256ull << 20; // READ/WRITE payload bytes likewise
constexpr std::size_t kReadsNowPerTurn = 16;              // receive(): recv at once, then via the reactor
}  // namespace

void Connection::compact() {
    if (rpos_ == 0) return;
    std::memmove(rbuf_.data(), rbuf_.data() + rpos_, rlen_ - rpos_);
    rlen_ -= rpos_;
    rpos_ = 0;
}

void Connection::read_more() {
    compact();
    read_pending_ = true;
    auto on_read = [this, self = shared_from_this()](std::error_code ec, std::size_t n) {
        read_pending_ = false;
        if (closed_) return;
        if (ec) return receive_ended(ec);
        rlen_ += n;
        pump();
    };
    stream_.read_some(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_), std::move(on_read));
}

// The peer went away (or the server stops): answer what is in flight, then close.
void Connection::receive_ended(std::error_code ec) {
    spdlog::debug("nbd {}: receive side ended: {}", peer_, ec.message());
    draining_ = true;
    maybe_finish();
}

// The turn needs more bytes. While the client keeps the loop busy the next request is usually
// in the socket already: read it here and go on (a recv, where a trip through the reactor costs
// an epoll_wait and a handler). Only for a few turns in a row, so other connections on this loop
// get their turn; else, and when nothing is there, wait for the socket as usual.
bool Connection::receive(bool read_now) {
    compact();
    if (read_now) {
        std::error_code ec;
        const std::size_t n = stream_.read_now(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_), ec);
        if (ec) {
            receive_ended(ec);
            return false;
        }
        if (n) {
            rlen_ += n;
            return true;
        }
    }
    read_more();
    return false;
}

// One turn: start what is buffered, answer the commands that completed inside submit() (the mem
// backend reads and writes inline), then send every reply queued with one gathered write. A
// write the socket takes at once frees requests, which may let reading go on: another turn; so
// does a request read at once after the replies went out (receive()).
void Connection::pump() {
    if (pumping_) {
        pump_again_ = true;
        return;
    }
    pumping_ = true;
    std::size_t reads_now = 0;
    do {
        pump_again_ = false;
        want_read_ = false;
        pump_requests();
        complete_inline();
        flush_writes();
        if (want_read_ && !pump_again_ && !closed_) pump_again_ = receive(reads_now++ < kReadsNowPerTurn);
    } while (pump_again_ && !closed_);
    pumping_ = false;
    maybe_finish();
}

void Connection::pump_requests() {
    while (!closed_ && transmission_ && !read_pending_) {
        if (discard_left_) {
            const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(discard_left_, rlen_ - rpos_));
            rpos_ += n;
            discard_left_ -= n;
            if (discard_left_) {
                want_read_ = true;
                return;
            }
            reply_error(std::exchange(discard_req_, nullptr));
            continue;
        }
        if (draining_) return maybe_finish();
        if (inflight_ >= kMaxInflight || inflight_bytes_ >= kMaxInflightBytes) return;  // resumed on replies
        if (rlen_ - rpos_ < kRequestHeaderSize) {
            want_read_ = true;  // the turn's end reads (receive())
            return;
        }
        const auto parsed =
            parse_request(std::span<const std::uint8_t, kRequestHeaderSize>(rbuf_.data() + rpos_, kRequestHeaderSize));
        if (!parsed) {
            spdlog::warn("nbd {}: bad request magic {:#010x}, disconnecting", peer_, util::load_be32(&rbuf_[rpos_]));
            return close("bad request magic");
        }
        rpos_ += kRequestHeaderSize;
        const RequestHeader h = *parsed;
        const Verdict v = validate(h, plan_.limits);
        spdlog::trace("nbd {}: {} flags {:#x} offset {} length {}", peer_, command_name(h.type), h.flags, h.offset,
                      h.length);
        switch (v.action) {
            case Action::disc:
                draining_ = true;
                return maybe_finish();
            case Action::disconnect:
                spdlog::warn("nbd {}: {} ({} bytes), disconnecting", peer_, v.why, h.length);
                return close(v.why);
            case Action::reply_error: {
                Req* r = get_req(h);
                r->plan.refuse(v.error, v.why);
                if (has_payload(h) && h.length) {
                    // Answered once the payload is read and dropped.
                    discard_req_ = r;
                    discard_left_ = h.length;
                    continue;
                }
                reply_error(r);
                continue;
            }
            case Action::execute:
                break;
        }
        // A WRITE's payload is read only once the budget has room for it; until then the
        // request stays unread (the socket fills and TCP holds the client back).
        util::WriteHold hold;
        if (h.type == cmd::write && h.length) {
            hold = util::WriteHold(writes_);
            // No read is pending while it waits: the waiter keeps the connection alive (close()
            // forgets it).
            auto wake = [self = shared_from_this()] { asio::post(self->exec_, [self] { self->pump(); }); };
            if (!hold.try_grant(h.length, this, std::move(wake))) {
                rpos_ -= kRequestHeaderSize;
                return;  // pump() runs again when bytes are given back
            }
        }
        Req* r = get_req(h);
        r->hold = std::move(hold);
        if (h.type == cmd::read || h.type == cmd::write) {
            r->bytes = h.length;
            inflight_bytes_ += h.length;
        }
        if (h.type == cmd::write && h.length && !take_payload(r)) return;
        execute(r);
    }
}

bool Connection::take_payload(Req* r) {
    const std::uint32_t len = r->plan.request().length;
    auto& buf = r->plan.buffer();
    buf.resize(len);
    const std::size_t n = std::min<std::size_t>(len, rlen_ - rpos_);
    std::memcpy(buf.data(), rbuf_.data() + rpos_, n);
    rpos_ += n;
    if (n == len) return true;
    // The rest of the payload goes straight into the buffer the SCSI command uses.
    read_pending_ = true;
    auto self = shared_from_this();
    stream_.read(asio::buffer(buf.data() + n, len - n), [this, self, r](std::error_code ec, std::size_t) {
        read_pending_ = false;
        if (closed_ || ec) {
            recycle(r);
            if (closed_) return;
            draining_ = true;
            return maybe_finish();
        }
        on_payload_read(r);
    });
    return false;
}

void Connection::on_payload_read(Req* r) {
    execute(r);
    pump();
}

}  // namespace vstor::nbd
