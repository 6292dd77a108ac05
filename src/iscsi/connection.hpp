// One iSCSI connection: reads PDUs from its socket on one event loop, runs the login state
// machine, then the full feature phase (commands, data, task management, text, logout, NOP).
// Thread rule: everything here runs on the connection's io_context, except the adapter
// completion callbacks, which only post back to it (or, arriving inside submit() on the loop,
// leave the completion for it: util::InlineCompletions, connection_scsi.cpp).
#pragma once

#include <asio.hpp>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iscsi/login.hpp"
#include "iscsi/pdu.hpp"
#include "iscsi/session.hpp"
#include "iscsi/session_registry.hpp"
#include "iscsi/view_cursor.hpp"
#include "util/connection_limiter.hpp"
#include "util/inline_completions.hpp"
#include "vstor/adapter.hpp"
#include "vstor/sense.hpp"

namespace vstor::iscsi {

class ServerImpl;

class Connection : public std::enable_shared_from_this<Connection> {
public:
    Connection(asio::ip::tcp::socket socket, ServerImpl& server, const PortalConfig& portal);
    ~Connection();

    // Any thread (the acceptor's): the connection begins on its own loop, where all its work runs.
    void start();
    // Close from any thread (posts to the connection's loop).
    void close_async(const std::string& why);
    // From another connection's loop, before a leading login of the same initiator binds: on this
    // connection's loop, closes it if its initiator has already closed it, or whatever its state
    // if `always` (its session is being reinstated); then posts `done` to `reply_to`
    // (connection_settle.cpp).
    void settle_async(bool always, const asio::any_io_executor& reply_to, std::function<void()> done);
    // Ask the initiator to log out (Async Message, event 1) — used on shutdown.
    void request_logout_async();
    // SCSI asynchronous event (Async Message event 0) with the given sense, e.g. REPORTED LUNS
    // DATA HAS CHANGED.
    void send_async_event_async(std::uint64_t lun, std::vector<std::uint8_t> sense);
    std::uint16_t cid() const { return cid_; }
    // The connection's place under its portal's connection limits, given back when it ends.
    void hold(util::ConnectionSlot slot) { slot_ = std::move(slot); }
    const std::string& peer() const { return peer_; }

private:
    void begin();  // start(), on the connection's loop
    struct Cmd;  // a SCSI command in flight on this connection (connection.cpp)

    // I/O.
    void read_more();         // read what the socket has into rx_ and handle it, until it is empty
    bool handle_received();   // handle every complete PDU in rx_, send what that queued; false: stop reading
    std::size_t busy_poll(asio::mutable_buffer room, std::error_code& ec);  // read_some, retried briefly
    bool handle_pdus();
    bool decode_one(std::size_t avail);  // the PDU at rx_begin_, if it is all there
    enum class Rx { next, need_bytes, reading, unplaced };  // what to do after a receive step
    Rx start_incoming(std::span<const std::uint8_t, kBhsLength> bhs, std::size_t avail);
    Rx continue_incoming();
    std::uint8_t* data_destination(const Pdu& pdu, std::shared_ptr<Cmd>& cmd, util::UninitBytes& buffer);
    void on_pdu(Pdu pdu);
    void send(Pdu& pdu);
    void send_bytes(std::vector<std::uint8_t> bytes);
    void flush_writes();
    bool send_now(std::vector<asio::const_buffer>& bufs);
    void close(const std::string& why);

    // Phases.
    void on_login(const Pdu& pdu);
    void act_on_login_step(Login::Step step);
    void settle_then_bind();  // connection_settle.cpp
    void bind_now();
    bool peer_gone();
    LoginIdentity identity() const;
    std::shared_ptr<Session> take_reinstated(const LoginIdentity& who);
    bool bind_session();
    std::shared_ptr<Session> open_session(const LoginIdentity& who, std::uint16_t& status);
    void enter_full_feature(std::shared_ptr<Session> session, Pdu last_login_response);
    void on_full_feature(Pdu& pdu);

    // Full feature phase handlers.
    void on_scsi_command(Pdu& pdu);
    void on_data_out(const Pdu& pdu);
    void on_nop_out(const Pdu& pdu);
    void on_tmf(const Pdu& pdu);
    void on_text(const Pdu& pdu);
    void on_logout(const Pdu& pdu);
    void send_text_part();
    void reject(const Pdu& pdu, std::uint8_t reason);

    // SCSI command helpers.
    void send_r2ts(Cmd& cmd);
    void grant_waiting();  // writes waiting for the budget get it in order, then their R2Ts
    void submit(const std::shared_ptr<Cmd>& cmd);
    void complete(const std::shared_ptr<Cmd>& cmd, const Completion& c);
    struct DataInStatus;  // what the last Data-In carries when the status goes with it
    std::uint32_t send_data_in(const std::shared_ptr<Cmd>& cmd, const Completion& c, const DataInStatus* status);
    void queue_data_in(Pdu& d, const std::shared_ptr<Cmd>& cmd, const Completion& c, ViewCursor& at, std::uint32_t off,
                       std::uint32_t n);
    void send_check_condition(std::uint32_t itt, std::uint32_t edtl, const scsi::Sense& sense);
    void fill_sn(Pdu& pdu, bool with_status);

    // Keepalive.
    void arm_keepalive();
    // Closes the connection if login has not completed in time (ServerConfig::login_timeout_s).
    void arm_login_deadline();

    util::ConnectionSlot slot_;
    asio::ip::tcp::socket socket_;
    asio::steady_timer keepalive_;
    asio::steady_timer login_deadline_;
    asio::steady_timer auth_delay_;  // holds the answer to a throttled CHAP response; bounds a settle
    ServerImpl& server_;
    const PortalConfig portal_;
    std::string peer_;          // address:port
    std::string peer_address_;  // address only: what CHAP failures are counted by

    // Received, not yet handled; grows to the largest PDU. Small until login completes, so that
    // idle connections that never log in cost little (docs/iscsi.md "Before login").
    static constexpr std::size_t kLoginRxBuffer = 4 * 1024;
    static constexpr std::size_t kFullFeatureRxBuffer = 64 * 1024;
    std::vector<std::uint8_t> rx_ = std::vector<std::uint8_t>(kLoginRxBuffer);
    std::size_t rx_begin_ = 0, rx_end_ = 0;
    unsigned poll_skip_ = 0, poll_backoff_ = 0;  // busy_poll(): waits to sleep at once after a poll ran out
    // A Data-Out or SCSI Command whose data segment is being received straight into the
    // command's buffer (connection_rx.cpp): its header, where the data goes and how much came.
    struct Incoming {
        Pdu pdu;
        std::shared_ptr<Cmd> cmd;  // a Data-Out's command: keeps the buffer alive
        std::uint8_t* dest = nullptr;
        std::size_t len = 0, got = 0;
        std::size_t trailer = 0;  // padding and data digest after the data
        bool data_digest = false;
    };
    std::optional<Incoming> incoming_;
    // One queued PDU: header bytes, then optionally data owned elsewhere, kept alive by `keep`
    // (Data-In goes out without a copy): a span of a command's buffer, or bytes of the memory a
    // LUN lent from `view` on (whose owner leaves the task set when let go), then padding/digest.
    struct OutBuf {
        std::vector<std::uint8_t> head;
        std::shared_ptr<const void> keep;
        const std::uint8_t* data = nullptr;
        ViewCursor view;  // used when view.view is set, instead of `data`
        std::size_t data_len = 0;
        std::vector<std::uint8_t> tail;
    };
    void send_out(OutBuf out);
    // Holds back flush_writes() while one step queues several PDUs (a read's Data-In), which
    // then go out in one gathered write when it ends, unless an outer step holds them still.
    struct Cork {
        Connection& c;
        const bool outer;
        explicit Cork(Connection& conn) : c(conn), outer(conn.corked_) { c.corked_ = true; }
        ~Cork() {
            c.corked_ = outer;
            if (!outer && !c.writing_ && !c.write_queue_.empty()) c.flush_writes();
        }
        Cork(const Cork&) = delete;
        Cork& operator=(const Cork&) = delete;
    };
    // Reads and writes are tried on the (non-blocking) socket at once and handled inline; only
    // an empty socket or a full send buffer waits through the loop (docs/performance.md, "iSCSI
    // at queue depth 1"). Windows' completion ports have no readiness path: asio's async ops.
#ifdef _WIN32
    static constexpr bool kInlineSocketIo = false;
#else
    static constexpr bool kInlineSocketIo = true;
#endif
    // A completion a backend's own thread posted (an RBD LUN's): its response waits for a flush
    // posted behind it, so that the completions the loop runs meanwhile leave in one sendmsg.
    void complete_posted(const std::shared_ptr<Cmd>& cmd, const Completion& c);
    bool flush_posted_ = false;  // that flush is queued
    std::deque<OutBuf> write_queue_;
    std::vector<OutBuf> sending_;                 // the batch being written (flush_writes)
    std::vector<asio::const_buffer> send_bufs_;  // its gathered buffers
    bool writing_ = false;
    bool corked_ = false;  // handling received PDUs: what they send waits for the turn's end
    bool closed_ = false;
    bool logout_after_flush_ = false;
    // No PDU is handled (nor read) while a CHAP answer is held back, or while a login waits for
    // the connections it settles first.
    bool paused_ = false;

    std::optional<Login> login_;
    std::shared_ptr<Session> session_;
    SessionParams params_;  // session params plus this connection's digests/limits
    std::uint16_t cid_ = 0;
    std::uint32_t statsn_ = 0;
    std::map<std::uint32_t, std::shared_ptr<Cmd>> cmds_;  // by ITT
    using InlineDone = util::InlineCompletions<Cmd*>;
    InlineDone inline_done_;  // completions that arrived inside their own submit()
    std::deque<std::weak_ptr<Cmd>> budget_wait_;  // writes waiting for the write budget, oldest first
    std::uint32_t next_ttt_ = 1;
    std::uint32_t nop_ttt_pending_ = kReservedTag;
    struct TextExchange {  // a Text Request/Response exchange spanning several PDUs
        std::uint32_t itt = kReservedTag;
        std::uint32_t ttt = kReservedTag;  // the tag the initiator must echo to continue
        std::vector<std::uint8_t> in;      // request parts received so far (C=1)
        std::vector<std::uint8_t> out;     // the whole answer
        std::size_t sent = 0;              // bytes of `out` already sent
    } text_;
    std::chrono::steady_clock::time_point last_rx_;
};

}  // namespace vstor::iscsi
