// Connection I/O (receiving is in connection_rx.cpp), login and PDU routing. SCSI command/data handling is in connection_scsi.cpp,
// the other full-feature requests in connection_control.cpp.
#include "iscsi/connection.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>

#include "iscsi/connection_cmd.hpp"
#include "iscsi/server_impl.hpp"
#include "util/gathered_send.hpp"
#include "util/transfer_all.hpp"

namespace vstor::iscsi {

namespace {
// Larger batches (1 MiB reads) keep asio's write: sent at once, each completion's Data-In went
// out on its own and 1 MiB reads ran slower (docs/performance.md, "iSCSI at queue depth 1").
constexpr std::size_t kSendNowMax = 64 * 1024;
}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, ServerImpl& server, const PortalConfig& portal)
    : socket_(std::move(socket)),
      keepalive_(socket_.get_executor()),
      login_deadline_(socket_.get_executor()),
      auth_delay_(socket_.get_executor()),
      server_(server),
      portal_(portal) {
    asio::error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    peer_address_ = ec ? "?" : ep.address().to_string();
    peer_ = ec ? "?" : peer_address_ + ":" + std::to_string(ep.port());
    login_.emplace(server_.discovery_chap(), server_.targets(), portal_.portal_group_tag);
}

Connection::~Connection() = default;

// The acceptor's loop is not this connection's: begin there, since begin() may already read and
// answer PDUs (inline socket calls) while the loop runs a posted logout or close.
void Connection::start() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->begin(); });
}

void Connection::begin() {
    if (closed_) return;
    spdlog::debug("iscsi: connection from {}", peer_);
    last_rx_ = std::chrono::steady_clock::now();
    arm_login_deadline();
    std::error_code ec;
    if (kInlineSocketIo) socket_.non_blocking(true, ec);  // read_more() and send_now() never wait
    if (ec) return close("socket: " + ec.message());
    read_more();
}

void Connection::arm_login_deadline() {
    const auto limit = server_.config().login_timeout_s;
    login_deadline_.expires_after(std::chrono::seconds(limit));
    login_deadline_.async_wait([this, self = shared_from_this(), limit](std::error_code ec) {
        if (ec || closed_ || !login_) return;
        server_.count_login_timeout();
        close("login not completed within " + std::to_string(limit) + " s");
    });
}

void Connection::on_pdu(Pdu pdu) {
    last_rx_ = std::chrono::steady_clock::now();
    spdlog::trace("iscsi {}: rx {} itt {:#x} sn {} cdb0 {:#x} dsl {}", peer_, opcode_name(pdu.opcode()), pdu.itt(),
                  pdu.as<RequestBhs>().cmdsn(), pdu.as<ScsiCommandBhs>().cdb()[0], pdu.data_length());
    if (closed_) return;
    if (login_) {
        on_login(pdu);
    } else {
        on_full_feature(pdu);
    }
}

void Connection::send(Pdu& pdu) {
    const auto h = pdu.as<ResponseBhs>();
    spdlog::trace("iscsi {}: tx op {:#x} itt {:#x} statsn {} expcmdsn {} maxcmdsn {}", peer_, h.opcode(), h.itt(),
                  h.statsn(), h.exp_cmdsn(), h.max_cmdsn());
    std::vector<std::uint8_t> bytes;
    const bool ff = !login_.has_value();
    encode(pdu, ff && params_.header_digest, ff && params_.data_digest, bytes);
    send_bytes(std::move(bytes));
}

void Connection::send_bytes(std::vector<std::uint8_t> bytes) {
    OutBuf out;
    out.head = std::move(bytes);
    send_out(std::move(out));
}

void Connection::send_out(OutBuf out) {
    if (closed_) return;
    write_queue_.push_back(std::move(out));
    if (!writing_ && !corked_) flush_writes();
}

void Connection::flush_writes() {
    for (;;) {
        sending_.clear();  // the last batch is out: let go of its buffers
        if (write_queue_.empty() || closed_) {
            writing_ = false;
            if (logout_after_flush_ && !closed_) close("logged out");
            return;
        }
        writing_ = true;
        // Batch everything queued into one gathered write. sending_ and send_bufs_ are reused
        // (no allocation per turn) and stay untouched until the write ends: writing_ is set.
        while (!write_queue_.empty()) {
            sending_.push_back(std::move(write_queue_.front()));
            write_queue_.pop_front();
        }
        send_bufs_.clear();
        std::size_t bytes = 0;
        for (const auto& b : sending_) {
            send_bufs_.emplace_back(asio::buffer(b.head));
            if (b.view.view) {
                ViewCursor at = b.view;
                at.take(b.data_len, [&](const void* p, std::size_t n) { send_bufs_.emplace_back(p, n); });
            } else if (b.data_len) {
                send_bufs_.emplace_back(b.data, b.data_len);
            }
            if (!b.tail.empty()) send_bufs_.emplace_back(asio::buffer(b.tail));
            bytes += b.head.size() + b.data_len + b.tail.size();
        }
        // One sendmsg now; what the socket does not take (or an error) goes the asynchronous
        // way, whose completion handler comes back here. A large batch that went out whole
        // comes back here through the loop, as asio's write would: meanwhile the completions
        // the loop runs queue up for one batch, not one sendmsg each (docs/performance.md).
        if (kInlineSocketIo && send_now(send_bufs_)) {
            if (bytes <= kSendNowMax) continue;
            asio::post(socket_.get_executor(), [this, self = shared_from_this()] { flush_writes(); });
            return;
        }
        asio::async_write(socket_, send_bufs_, util::TransferAllAtOnce{},
                          [this, self = shared_from_this()](std::error_code ec, std::size_t) {
                              if (ec) {
                                  sending_.clear();  // lent memory goes back (its task leaves the set)
                                  return close("write failed: " + ec.message());
                              }
                              flush_writes();
                          });
        return;
    }
}

// Sends what the non-blocking socket takes at once; true if it took all of `bufs`, else `bufs`
// is left holding the rest. An error is left to the asynchronous write to report.
bool Connection::send_now(std::vector<asio::const_buffer>& bufs) {
    std::error_code ec;
    std::size_t sent = util::send_gathered(static_cast<int>(socket_.native_handle()), bufs, ec);
    std::size_t i = 0;
    for (; i < bufs.size() && sent >= bufs[i].size(); ++i) sent -= bufs[i].size();
    if (i == bufs.size()) return true;
    bufs[i] += sent;
    bufs.erase(bufs.begin(), bufs.begin() + static_cast<std::ptrdiff_t>(i));
    return false;
}

void Connection::close(const std::string& why) {
    if (closed_) return;
    // What this turn queued (a Reject saying why) still gets its one try, as when unbatched.
    if (!writing_ && !write_queue_.empty()) flush_writes();
    if (closed_) return;  // that flush sent a Logout Response and closed
    closed_ = true;
    spdlog::debug("iscsi {}: closing connection: {}", peer_, why);
    asio::error_code ec;
    keepalive_.cancel();
    login_deadline_.cancel();
    auth_delay_.cancel();
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    for (auto& [itt, cmd] : cmds_) cmd->dead = true;
    cmds_.clear();
    // Lent memory not sent goes back now, so the reads it belongs to leave their task sets (a
    // write in flight keeps its batch until its handler runs, at once: the socket is closed).
    write_queue_.clear();
    if (!writing_) sending_.clear();
    budget_wait_.clear();
    if (session_ && session_->write_account()) session_->write_account()->forget_waiter(this);
    if (session_) {
        session_->remove_connection(this);
        if (session_->connection_count() == 0) {
            server_.sessions().remove(session_.get());
            // The I_T nexus ends with its last connection. Done at once so that a new session
            // of the same initiator never races with the cleanup of the old one (which returns
            // without waiting for commands still in a backend: this is the event loop).
            if (auto nexus = session_->nexus()) server_.adapter().nexus_lost(nexus);
        }
    }
    server_.untrack(this);
}

void Connection::close_async(const std::string& why) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), why] { self->close(why); });
}

void Connection::fill_sn(Pdu& pdu, bool with_status) {
    const auto h = pdu.as<ResponseBhs>();
    if (with_status) h.set_statsn(statsn_++);
    if (session_) {
        h.set_exp_cmdsn(session_->exp_cmdsn());
        h.set_max_cmdsn(session_->max_cmdsn());
    }
}

void Connection::reject(const Pdu& bad, std::uint8_t reason) {
    Pdu r;
    const auto h = r.init<RejectBhs>();
    h.set_final(true);
    h.set_reason(reason);
    h.set_itt(kReservedTag);
    fill_sn(r, true);
    r.data.assign(bad.bhs.begin(), bad.bhs.end());
    send(r);
}

// ---- Login -------------------------------------------------------------------------------

void Connection::on_login(const Pdu& pdu) {
    if (pdu.opcode() != op::login_request) {
        spdlog::warn("iscsi {}: {} during login", peer_, opcode_name(pdu.opcode()));
        return close("non-login PDU before login completed");
    }
    auto step = login_->on_pdu(pdu);
    if (step.chap != Login::ChapCheck::none) {
        const auto delay = server_.on_chap_check(step.chap == Login::ChapCheck::passed, peer_address_,
                                                 login_->keys().initiator_name, peer_, login_->failure_reason());
        if (delay.count() > 0) {
            // Hold the answer without blocking the loop: nothing more is read until it goes out.
            paused_ = true;
            auth_delay_.expires_after(delay);
            auto held = std::make_shared<Login::Step>(std::move(step));
            auth_delay_.async_wait([this, self = shared_from_this(), held](std::error_code ec) {
                if (ec || closed_) return;
                paused_ = false;
                act_on_login_step(std::move(*held));
                if (handle_received()) read_more();
            });
            return;
        }
    }
    act_on_login_step(std::move(step));
}

void Connection::act_on_login_step(Login::Step step) {
    switch (step.outcome) {
        case Login::Outcome::respond:
            return send(step.response);
        case Login::Outcome::fail: {
            const auto status = step.response.as<LoginResponseBhs>().status();
            const auto& why = login_->failure_reason();
            spdlog::info("iscsi {}: login of '{}' to '{}' refused (status {:04x}{}{})", peer_,
                         login_->keys().initiator_name, login_->keys().target_name, status, why.empty() ? "" : ": ",
                         why);
            send(step.response);
            logout_after_flush_ = true;
            return;
        }
        case Login::Outcome::ready_to_bind:
            return settle_then_bind();
    }
}

// Leading login creates (or reinstates) a session; a non-zero TSIH adds a connection (MC/S).
// Which of these a login gets is the session registry's rule (session_registry.hpp).
LoginIdentity Connection::identity() const {
    LoginIdentity who;
    who.tsih = login_->requested_tsih();
    std::memcpy(who.isid.data(), login_->isid(), who.isid.size());
    who.cid = login_->cid();
    who.initiator_name = login_->keys().initiator_name;
    who.target = login_->target().get();
    return who;
}

void Connection::bind_now() {
    if (!bind_session()) logout_after_flush_ = true;
}

bool Connection::bind_session() {
    const LoginIdentity who = identity();
    std::shared_ptr<Session> session;
    std::uint16_t status = login_status::success;
    if (who.tsih != 0) {
        auto joined = server_.sessions().join(who);
        session = std::move(joined.session);
        status = joined.status;
        // Connection reinstatement: a login with the CID of a live connection replaces it.
        if (session)
            for (auto& c : session->connections())
                if (c->cid() == who.cid) c->close_async("connection reinstated");
    } else {
        session = open_session(who, status);
    }
    Pdu resp = login_->finish(session ? session->tsih() : 0, status);
    if (status != login_status::success) {
        spdlog::info("iscsi {}: login refused at bind (status {:04x})", peer_, status);
        send(resp);
        return false;
    }
    enter_full_feature(std::move(session), std::move(resp));
    return true;
}

// The session of the same initiator port this leading login reinstates (RFC 7143 6.3.5), out of
// the registry; the caller closes its connections. Null when there is none.
std::shared_ptr<Session> Connection::take_reinstated(const LoginIdentity& who) {
    auto old = server_.sessions().take_for_reinstatement(who);
    if (old) spdlog::info("iscsi {}: reinstating session {:#x} of {}", peer_, old->tsih(), who.initiator_name);
    return old;
}

// A new session for a leading login. The session it reinstates was closed before the login went
// on (settle_then_bind); one of the same initiator port that logged in meanwhile is closed here.
// Null (with `status` set) when the adapter has no such target any more.
std::shared_ptr<Session> Connection::open_session(const LoginIdentity& who, std::uint16_t& status) {
    auto& reg = server_.sessions();
    const auto& keys = login_->keys();
    if (auto old = take_reinstated(who))
        for (auto& c : old->connections()) c->close_async("session reinstated");
    std::shared_ptr<Nexus> nexus;
    if (keys.session_type == SessionType::normal) {
        char isid[16];
        const auto& i = who.isid;
        std::snprintf(isid, sizeof isid, "%02x%02x%02x%02x%02x%02x", i[0], i[1], i[2], i[3], i[4], i[5]);
        nexus = server_.adapter().open_nexus(login_->target()->adapter_target_id, keys.initiator_name + ",i,0x" + isid,
                                             portal_.portal_group_tag,
                                             login_->target()->visible_luns(keys.initiator_name));
        if (!nexus) {
            status = login_status::not_found;
            return nullptr;
        }
    }
    auto session = std::make_shared<Session>(reg.allocate_tsih(), login_->isid(), keys, login_->target(),
                                             login_->params(), nexus, login_->initial_cmdsn(),
                                             server_.write_budget()->open_account());
    reg.add(session);
    return session;
}

// The last login response goes out and the connection joins `session` in full feature phase.
void Connection::enter_full_feature(std::shared_ptr<Session> session, Pdu resp) {
    session_ = std::move(session);
    cid_ = login_->cid();
    statsn_ = login_->next_statsn();
    params_ = session_->params();
    // Digests are per connection (RFC 7143 13.1): take this connection's negotiated values.
    params_.header_digest = login_->params().header_digest;
    params_.data_digest = login_->params().data_digest;
    params_.max_recv_data_segment_length_initiator = login_->params().max_recv_data_segment_length_initiator;
    const auto h = resp.as<LoginResponseBhs>();
    h.set_statsn(statsn_++);
    h.set_exp_cmdsn(session_->exp_cmdsn());
    h.set_max_cmdsn(session_->max_cmdsn());
    // Join the session before the response goes out: the initiator may open its next connection
    // (perhaps on another loop) as soon as it reads it, and that login must see this one.
    session_->add_connection(shared_from_this());
    // The last login response still goes out without digests.
    std::vector<std::uint8_t> bytes;
    encode(resp, false, false, bytes);
    send_bytes(std::move(bytes));
    const auto& keys = login_->keys();
    spdlog::info("iscsi {}: {} session {:#x} for {} to {}", peer_, session_->discovery() ? "discovery" : "normal",
                 session_->tsih(), keys.initiator_name, keys.target_name);
    login_.reset();
    login_deadline_.cancel();
    arm_keepalive();
}

// ---- Full feature phase ------------------------------------------------------------------

void Connection::on_full_feature(Pdu& pdu) {
    const auto opcode = pdu.opcode();
    // Requests that carry a CmdSN go through the window first (Data-Out and SNACK do not).
    if (opcode != op::data_out && opcode != op::snack) {
        const std::uint32_t cmdsn = pdu.as<RequestBhs>().cmdsn();
        if (!session_->accept_cmdsn(cmdsn, pdu.immediate())) {
            spdlog::debug("iscsi {}: CmdSN {} outside the window [{}..{}], dropped", peer_, cmdsn,
                          session_->exp_cmdsn(), session_->window_end());
            return;
        }
    }
    if (session_->discovery() && opcode != op::text_request && opcode != op::logout_request &&
        opcode != op::nop_out) {
        reject(pdu, reject_reason::protocol_error);
        return close("only Text and Logout are allowed in a discovery session");
    }
    switch (opcode) {
        case op::scsi_command: return on_scsi_command(pdu);
        case op::data_out: return on_data_out(pdu);
        case op::nop_out: return on_nop_out(pdu);
        case op::tmf_request: return on_tmf(pdu);
        case op::text_request: return on_text(pdu);
        case op::logout_request: return on_logout(pdu);
        case op::login_request:
            reject(pdu, reject_reason::protocol_error);
            return close("Login Request in full feature phase");
        case op::snack:
            return reject(pdu, reject_reason::command_not_supported);  // ERL 0: no SNACK
        default:
            spdlog::warn("iscsi {}: unknown opcode {:#x}", peer_, opcode);
            return reject(pdu, reject_reason::command_not_supported);
    }
}

void Connection::arm_keepalive() {
    const auto interval = server_.config().nop_in_interval_s;
    if (!interval || closed_) return;
    keepalive_.expires_after(std::chrono::seconds(interval));
    auto self = shared_from_this();
    keepalive_.async_wait([this, self, interval](std::error_code ec) {
        if (ec || closed_) return;
        const auto now = std::chrono::steady_clock::now();
        if (nop_ttt_pending_ != kReservedTag &&
            now - last_rx_ > std::chrono::seconds(interval + server_.config().nop_timeout_s)) {
            spdlog::warn("iscsi {}: no answer to NOP-In keepalive, dropping connection", peer_);
            return close("keepalive timeout");
        }
        if (now - last_rx_ >= std::chrono::seconds(interval) && nop_ttt_pending_ == kReservedTag) {
            Pdu nop;
            const auto h = nop.init<NopInBhs>();
            h.set_final(true);
            h.set_itt(kReservedTag);
            nop_ttt_pending_ = next_ttt_++;
            if (nop_ttt_pending_ == kReservedTag) nop_ttt_pending_ = next_ttt_++;
            h.set_ttt(nop_ttt_pending_);
            h.set_statsn(statsn_);  // not a status: StatSN is not advanced
            fill_sn(nop, false);
            send(nop);
        }
        arm_keepalive();
    });
}

}  // namespace vstor::iscsi
