// Before a leading login binds, what its initiator left behind is settled on the loops it lives on.
//
// Each connection runs on one event loop, and a new session's login may run on another. An
// initiator that drops its connection and logs in again at once (libiscsi's
// PreventAllow.ITNexusLoss does just that) expects the old I_T nexus to be gone: its PREVENT
// MEDIUM REMOVAL and RESERVE(6) end with it (SPC-5 5.14, SAM-5 6.3.4). The old connection's loop
// sees the end of its stream when it next runs, and on a busy machine the new session's first
// commands can come first. So the login waits, without blocking its loop, until each connection
// of the same initiator to the same target has been looked at on its own loop: closed there if
// the initiator has already closed it (nothing it sent is lost: a peek finds nothing unread), and
// closed whatever its state if its session is the one this login reinstates (RFC 7143 6.3.5).
// A loop that does not answer within kSettleLimit (one stuck in a backend call) does not hold the
// login longer: it binds, and those connections close when their loops run again.

#include <spdlog/spdlog.h>

#include <chrono>
#include <utility>
#include <vector>

#include "iscsi/connection.hpp"
#include "iscsi/server_impl.hpp"

namespace vstor::iscsi {

namespace {
constexpr auto kSettleLimit = std::chrono::seconds(1);
}  // namespace

void Connection::settle_then_bind() {
    const LoginIdentity who = identity();
    std::vector<std::pair<std::shared_ptr<Connection>, bool>> others;  // bool: close it whatever
    if (who.tsih == 0 && !server_.stopping()) {  // stopping: a loop that has returned runs no post
        if (auto old = take_reinstated(who))
            for (auto& c : old->connections()) others.emplace_back(c, true);
        if (login_->keys().session_type == SessionType::normal)
            for (auto& s : server_.sessions().of_initiator(who.initiator_name, who.target))
                for (auto& c : s->connections()) others.emplace_back(c, false);
    }
    if (others.empty()) return bind_now();
    // Only touched on this loop: answers still awaited, and whether the login went on already.
    struct Wait {
        std::size_t left;
        bool done = false;
    };
    auto wait = std::make_shared<Wait>(Wait{others.size()});
    auto go_on = [this, self = shared_from_this(), wait] {
        if (wait->done) return;
        wait->done = true;
        auth_delay_.cancel();
        paused_ = false;
        if (closed_) return;
        bind_now();
        if (handle_received()) read_more();
    };
    paused_ = true;
    auth_delay_.expires_after(kSettleLimit);  // free: a held CHAP answer went out before this step
    auth_delay_.async_wait([this, go_on](std::error_code ec) {
        if (ec) return;
        spdlog::warn("iscsi {}: the loops of {}'s other connections did not answer within {} s; logging in anyway",
                     peer_, login_->keys().initiator_name, kSettleLimit.count());
        go_on();
    });
    for (auto& [c, always] : others)
        c->settle_async(always, socket_.get_executor(), [wait, go_on] {
            if (--wait->left == 0) go_on();
        });
    spdlog::debug("iscsi {}: login waits for {} connection(s) of {} on their loops", peer_, others.size(),
                  who.initiator_name);
}

void Connection::settle_async(bool always, const asio::any_io_executor& reply_to, std::function<void()> done) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), always, reply_to, done = std::move(done)] {
        if (!self->closed_) {
            if (always) {
                self->close("session reinstated");
            } else if (self->peer_gone()) {
                spdlog::info("iscsi {}: the initiator dropped this connection before its new login; closing it now",
                             self->peer_);
                self->close("dropped by the initiator, seen at its next login");
            }
        }
        asio::post(reply_to, done);
    });
}

// True when the initiator has closed its side (or reset it) and left nothing unread. A peek:
// nothing is taken from the socket, and a socket still open is left as it was. Anything unclear
// (the socket cannot be made non-blocking, an error that is not the peer's) says no.
bool Connection::peer_gone() {
    asio::error_code ec, peek;
    const bool user_non_blocking = socket_.non_blocking();
    if (!user_non_blocking) {
        socket_.non_blocking(true, ec);
        if (ec) return false;
    }
    std::uint8_t byte = 0;
    socket_.receive(asio::buffer(&byte, 1), asio::socket_base::message_peek, peek);
    if (!user_non_blocking) socket_.non_blocking(false, ec);
    return peek == asio::error::eof || peek == asio::error::connection_reset || peek == asio::error::timed_out;
}

}  // namespace vstor::iscsi
