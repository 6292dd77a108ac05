// NOP, Task Management, Text (SendTargets), Logout and Async Message (RFC 7143 11.5-11.19).
#include <spdlog/spdlog.h>

#include <cstring>

#include "iscsi/connection.hpp"
#include "iscsi/connection_cmd.hpp"
#include "iscsi/server_impl.hpp"

namespace vstor::iscsi {

void Connection::on_nop_out(const Pdu& pdu) {
    const std::uint32_t ttt = pdu.as<NopOutBhs>().ttt();
    if (ttt != kReservedTag) {
        // Answer to our keepalive NOP-In.
        if (ttt == nop_ttt_pending_) nop_ttt_pending_ = kReservedTag;
        return;
    }
    if (pdu.itt() == kReservedTag) return;  // a ping that wants no answer
    Pdu r;
    const auto h = r.init<NopInBhs>();
    h.set_final(true);
    h.set_lun(pdu.lun());
    h.set_itt(pdu.itt());
    h.set_ttt(kReservedTag);
    fill_sn(r, true);
    r.data = pdu.data;  // ping data is echoed
    send(r);
}

namespace {

// The Response field of a Task Management Function Response (RFC 7143 11.6.1).
std::uint8_t tmf_response_code(TmfResponse res) {
    switch (res) {
        case TmfResponse::complete:
        case TmfResponse::succeeded: return 0;
        case TmfResponse::task_not_exist: return 1;
        case TmfResponse::incorrect_lun: return 2;
        case TmfResponse::not_supported: return 5;
        case TmfResponse::rejected: return 255;
    }
    return 255;
}

}  // namespace

void Connection::on_tmf(const Pdu& pdu) {
    const auto h = pdu.as<TmfRequestBhs>();
    const std::uint8_t function = h.function();
    const std::uint32_t itt = h.itt();
    const std::uint32_t ref_tag = h.referenced_task_tag();
    const std::uint32_t cmdsn = h.cmdsn();
    const std::uint32_t ref_cmdsn = h.ref_cmdsn();
    TmfRequest req;
    req.nexus = session_->nexus();
    req.lun = h.lun();
    req.referenced_tag = ref_tag;
    std::optional<std::uint8_t> immediate;  // response decided without the engine
    switch (function) {
        case 1: req.function = TmfFunction::abort_task; break;
        case 2: req.function = TmfFunction::abort_task_set; break;
        case 3: req.function = TmfFunction::clear_aca; break;
        case 4: req.function = TmfFunction::clear_task_set; break;
        case 5: req.function = TmfFunction::lun_reset; break;
        case 6: req.function = TmfFunction::target_warm_reset; break;
        case 7: req.function = TmfFunction::target_cold_reset; break;
        case 8: immediate = 4; break;  // TASK REASSIGN needs ERL 2
        default: immediate = 5; break;  // not supported
    }
    if (!immediate && function == 1) {
        // A task still collecting Data-Out never reached the engine: abort it here.
        auto it = cmds_.find(ref_tag);
        if (it != cmds_.end() && !it->second->submitted) {
            it->second->dead = true;
            cmds_.erase(it);
            immediate = 0;
        } else if (it == cmds_.end() && !sn_lt(ref_cmdsn, session_->exp_cmdsn()) && sn_lt(ref_cmdsn, cmdsn)) {
            // RFC 7143 11.5.1: a referenced command that has not arrived yet (RefCmdSN still
            // ahead of ExpCmdSN) counts as received and aborted: the function is complete. A
            // command that already completed is reported by the engine as not existing.
            immediate = 0;
        }
    }
    auto respond = [this](std::uint32_t itt, std::uint8_t response) {
        Pdu r;
        const auto h = r.init<TmfResponseBhs>();
        h.set_final(true);
        h.set_response(response);
        h.set_itt(itt);
        fill_sn(r, true);
        send(r);
    };
    if (immediate) return respond(itt, *immediate);
    // Task management completes once the affected tasks have terminated, which a backend may
    // take long over: nothing waits for it here, the response goes out when it comes.
    auto weak = weak_from_this();
    auto exec = socket_.get_executor();
    server_.adapter().task_management_async(req, [weak, exec, respond, itt](TmfResponse res) {
        asio::post(exec, [weak, respond, itt, code = tmf_response_code(res)] {
            if (auto self = weak.lock()) respond(itt, code);
        });
    });
}

// Text negotiation with continuation both ways (RFC 7143 11.10, 11.11): a request with C=1 is
// collected until its last part; an answer longer than the initiator's MaxRecvDataSegmentLength
// goes out in parts with C=1 and a Target Transfer Tag, each asked for by an empty Text Request
// carrying that tag.
void Connection::on_text(const Pdu& pdu) {
    const auto req = pdu.as<TextRequestBhs>();
    const std::uint32_t ttt = req.ttt();
    const bool continued = req.continue_bit();
    if (ttt != kReservedTag) {
        if (ttt != text_.ttt || pdu.itt() != text_.itt) return reject(pdu, reject_reason::invalid_pdu_field);
        if (!text_.out.empty()) return send_text_part();
    } else if (text_.ttt != kReservedTag || (!text_.in.empty() && pdu.itt() != text_.itt)) {
        text_ = {};  // a new request resets an unfinished exchange (RFC 7143 11.10.2)
    }
    text_.itt = pdu.itt();
    if (text_.in.size() + pdu.data.size() > kMaxRequestText) {
        text_ = {};
        return reject(pdu, reject_reason::protocol_error);
    }
    text_.in.insert(text_.in.end(), pdu.data.begin(), pdu.data.end());
    if (continued) {  // more of the request follows: acknowledge with an empty, non-final response
        Pdu r;
        const auto h = r.init<TextResponseBhs>();
        h.set_itt(pdu.itt());
        text_.ttt = next_ttt_++;
        if (text_.ttt == kReservedTag) text_.ttt = next_ttt_++;
        h.set_ttt(text_.ttt);
        fill_sn(r, true);
        return send(r);
    }
    KeyValues in;
    const auto request = std::move(text_.in);
    text_.in.clear();
    if (!parse_text(request, in).empty()) {
        text_ = {};
        return reject(pdu, reject_reason::protocol_error);
    }
    std::vector<std::uint8_t> answer;
    for (const auto& [key, value] : in) {
        if (key != "SendTargets") {
            append_text(answer, key, "NotUnderstood");
            continue;
        }
        // Discovery sessions see every target this initiator may log in to; normal sessions
        // only their own (RFC 7143 13.21 / appendix D).
        const auto targets = server_.targets();
        for (const auto& tp : *targets) {
            const TargetConfig& t = *tp;
            const bool own = session_->target() && session_->target()->name == t.name;
            if (!session_->discovery() && !own) continue;
            if (value != "All" && value != t.name && !(value.empty() && own)) continue;
            if (!t.admits(session_->keys().initiator_name)) continue;
            append_text(answer, "TargetName", t.name);
            for (const auto& p : server_.config().portals) {
                std::string addr = p.address;
                if (addr == "0.0.0.0" || addr == "::") {
                    asio::error_code ec;
                    addr = socket_.local_endpoint(ec).address().to_string();
                }
                if (addr.find(':') != std::string::npos) addr = "[" + addr + "]";
                append_text(answer, "TargetAddress",
                            addr + ":" + std::to_string(p.port) + "," + std::to_string(p.portal_group_tag));
            }
        }
    }
    text_.out = std::move(answer);
    text_.sent = 0;
    send_text_part();
}

void Connection::send_text_part() {
    Pdu r;
    const auto h = r.init<TextResponseBhs>();
    h.set_itt(text_.itt);
    const std::size_t limit = params_.max_recv_data_segment_length_initiator;
    const std::size_t n = std::min(limit, text_.out.size() - text_.sent);
    r.data.assign(text_.out.begin() + static_cast<std::ptrdiff_t>(text_.sent),
                  text_.out.begin() + static_cast<std::ptrdiff_t>(text_.sent + n));
    text_.sent += n;
    if (text_.sent < text_.out.size()) {
        h.set_continue(true);  // more follows when the initiator asks with this tag
        text_.ttt = next_ttt_++;
        if (text_.ttt == kReservedTag) text_.ttt = next_ttt_++;
        h.set_ttt(text_.ttt);
    } else {
        h.set_final(true);  // the whole answer has been sent
        h.set_ttt(kReservedTag);
        text_ = {};
    }
    fill_sn(r, true);
    send(r);
}

void Connection::on_logout(const Pdu& pdu) {
    const auto req = pdu.as<LogoutRequestBhs>();
    const std::uint8_t reason = req.reason();
    const std::uint16_t cid = req.cid();
    std::uint8_t response = 0;
    bool close_self = false;
    if (reason == 0) {  // close the session: every connection goes
        for (auto& c : session_->connections())
            if (c.get() != this) c->close_async("session logged out");
        close_self = true;
    } else if (reason == 1) {  // close one connection
        if (cid == cid_) {
            close_self = true;
        } else {
            bool found = false;
            for (auto& c : session_->connections())
                if (c->cid() == cid && c.get() != this) {
                    c->close_async("connection logged out");
                    found = true;
                }
            if (!found) response = 1;  // CID not found
        }
    } else if (reason == 2) {
        response = 2;  // connection recovery is not supported at ERL 0
    } else {
        return reject(pdu, reject_reason::protocol_error);
    }
    Pdu r;
    const auto h = r.init<LogoutResponseBhs>();
    h.set_final(true);
    h.set_response(response);
    h.set_itt(req.itt());
    fill_sn(r, true);
    h.set_time2wait(static_cast<std::uint16_t>(params_.default_time2wait));
    h.set_time2retain(static_cast<std::uint16_t>(params_.default_time2retain));
    send(r);
    if (close_self) logout_after_flush_ = true;
}

void Connection::request_logout_async() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
        if (self->closed_ || self->login_) return;
        Pdu a;
        const auto h = a.init<AsyncMessageBhs>();
        h.set_final(true);
        h.set_itt(kReservedTag);
        self->fill_sn(a, true);
        h.set_async_event(1);  // target requests logout
        h.set_parameter3(2);   // seconds until the target drops it
        self->send(a);
    });
}

void Connection::send_async_event_async(std::uint64_t lun, std::vector<std::uint8_t> sense) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), lun, sense = std::move(sense)] {
        if (self->closed_ || self->login_ || !self->session_ || self->session_->discovery()) return;
        Pdu a;
        const auto h = a.init<AsyncMessageBhs>();
        h.set_final(true);
        h.set_lun(lun);
        h.set_itt(kReservedTag);
        self->fill_sn(a, true);
        h.set_async_event(0);  // SCSI asynchronous event, sense data attached
        a.data.resize(2 + sense.size());
        util::store_be16(a.data.data(), static_cast<std::uint16_t>(sense.size()));
        std::memcpy(a.data.data() + 2, sense.data(), sense.size());
        self->send(a);
    });
}

}  // namespace vstor::iscsi
