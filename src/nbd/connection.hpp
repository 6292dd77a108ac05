// One NBD connection: option haggling (nbd/handshake.hpp), then the transmission phase. Each
// request becomes one or more SCSI commands on this connection's own I_T nexus. The connection
// drives; the bytes go through nbd/stream.hpp, each request's commands and answer come from its
// nbd/transmission_plan.hpp, and replies are framed by nbd/reply.hpp.
// Thread rule: everything runs on the connection's io_context; the adapter's completion
// callbacks only store the completion and post back to it.
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nbd/access.hpp"
#include "nbd/handshake.hpp"
#include "nbd/request.hpp"
#include "nbd/stream.hpp"
#include "nbd/transmission_plan.hpp"
#include "util/connection_limiter.hpp"
#include "util/inline_completions.hpp"
#include "vstor/adapter.hpp"

namespace vstor::nbd {

class ServerImpl;

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(asio::ip::tcp::socket socket, ServerImpl& server, std::uint64_t id);
    ~Connection();

    // Any thread (the acceptor's): the connection begins on its own loop, where all its work runs.
    void start();
    void close_async(std::string why);
    // Server stop: no new requests (ESHUTDOWN), finish what is in flight, then close.
    void shutdown_async();
    // Closed, or draining with nothing left in flight (any thread).
    bool finished() const { return finished_.load(); }
    // The connection's place under its listener's connection limits, given back when it ends.
    void hold(util::ConnectionSlot slot) { slot_ = std::move(slot); }

    // The export this connection serves and who its client is, once in transmission (for
    // ServerImpl::recheck_access). Written and read with the server's access_mutex() held.
    struct Serving {
        std::string peer;
        std::optional<std::string> initiator;  // nullopt: no authenticated TLS identity
        std::uint16_t target_id = 0;
        std::uint16_t lun = 0;
    };
    const Serving* serving() const { return serving_ ? &*serving_ : nullptr; }

private:
    void begin();  // start(), on the connection's loop
    struct Req;  // one request in flight (connection.cpp); pooled, never freed per I/O

    // Handshake.
    void arm_handshake_timer();
    void start_tls();
    void handshake_read();
    void handshake_write(bool then_read);
    void enter_transmission();
    void on_probe_done(Req* r);

    // Transmission: receive side. pump() is one turn (nbd/connection_receive.cpp), pump_requests() its
    // receive part.
    void compact();    // moves unparsed bytes to the front of rbuf_
    void read_more();  // an asynchronous read into rbuf_
    bool receive(bool read_now);  // end of a turn that needs bytes: true if some were read at once
    void receive_ended(std::error_code ec);
    void pump();
    void pump_requests();
    // Copies what of a WRITE's payload is already buffered; false while the rest is being read
    // (on_payload_read() goes on from there).
    bool take_payload(Req* r);
    void on_payload_read(Req* r);

    // Requests: each one's TransmissionPlan says what to submit next and how to answer.
    Req* get_req(const RequestHeader& h);
    void recycle(Req* r);
    void execute(Req* r);
    void drive(Req* r, Step step);
    void submit(Req* r);
    void on_complete(Req* r);  // posted from another thread
    void complete_inline();    // completions that arrived inside submit()
    void finish_command(Req* r);

    // Replies (framing: nbd/reply.hpp).
    void reply_ok(Req* r);
    void reply_error(Req* r);  // the plan's error()
    void reply_read(Req* r);
    void reply_block_status(Req* r);
    void queue(Req* r);
    void flush_writes();
    void skip_sent(std::size_t n);  // drops what went out from the front of iov_
    void written();                 // the batch in writing_ is sent: recycle it

    void maybe_finish();
    void close(const std::string& why);

    util::ConnectionSlot slot_;
    Stream stream_;  // the socket, plain or TLS
    asio::any_io_executor exec_;
    ServerImpl& server_;
    const std::uint64_t id_;
    const std::string peer_;
    std::shared_ptr<Nexus> nexus_;
    std::shared_ptr<util::WriteBudget::Account> writes_;  // WRITE payloads read and not yet done

    // Handshake state. The catalog filters exports by what the client may see; the timer
    // closes a connection that has not reached transmission in time (docs/nbd.md).
    ClientCatalog catalog_;
    asio::steady_timer handshake_timer_;
    std::optional<Handshake> handshake_;
    std::optional<Serving> serving_;  // guarded by server_.access_mutex()
    std::vector<std::uint8_t> hs_out_;

    // Receive buffer: request headers (and small payloads) are parsed from here.
    std::vector<std::uint8_t> rbuf_;
    std::size_t rpos_ = 0, rlen_ = 0;
    bool read_pending_ = false;    // an async read into rbuf_ or a payload is outstanding
    bool want_read_ = false;       // the pump turn stopped for want of bytes
    std::uint64_t discard_left_ = 0;  // payload bytes of a refused WRITE still to drop
    Req* discard_req_ = nullptr;      // ... answered once they are gone

    // Transmission state.
    PlanContext plan_;  // the export and the LUN's limits, shared by every request's plan
    std::uint64_t sam_lun_ = 0;
    std::uint64_t next_tag_ = 1;
    std::size_t inflight_ = 0;        // accepted requests not yet answered on the wire
    std::uint64_t inflight_bytes_ = 0;
    bool transmission_ = false;
    bool draining_ = false;   // DISC, EOF or server stop: read no more requests
    bool shutting_down_ = false;
    bool closed_ = false;
    std::atomic<bool> finished_{false};

    // Request pool.
    std::vector<std::unique_ptr<Req>> all_reqs_;
    std::vector<Req*> free_reqs_;

    // Send side: replies queued, and the batch being written.
    std::vector<Req*> wq_;
    std::vector<Req*> writing_;
    std::vector<asio::const_buffer> iov_;
    bool write_pending_ = false;

    // Pump turns (pump()) and completions that arrived inside submit(), answered in the turn.
    bool pumping_ = false;
    bool pump_again_ = false;
    bool pump_posted_ = false;
    using InlineDone = util::InlineCompletions<Req*>;
    InlineDone inline_done_;
};

}  // namespace vstor::nbd
