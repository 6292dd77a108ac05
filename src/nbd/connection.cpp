#include "nbd/connection.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "nbd/connection_req.hpp"
#include "nbd/protocol.hpp"
#include "nbd/server_impl.hpp"
#include "util/endian.hpp"
#include "vstor/lun_address.hpp"

namespace vstor::nbd {

namespace {
constexpr std::size_t kHandshakeBuffer = 4u << 10;  // option haggling: options are gathered in the Handshake
constexpr std::size_t kReceiveBuffer = 64u << 10;   // transmission
constexpr std::size_t kKeepBufferCapacity = 8u << 20;     // larger buffers go back to the heap
}  // namespace

void Connection::start_tls() {
    // The client may send nothing between NBD_OPT_STARTTLS and the TLS handshake.
    if (rpos_ != rlen_) return close("plain-text data after NBD_OPT_STARTTLS");
    rpos_ = rlen_ = 0;
    if (!server_.tls_credentials()) return close("cannot start TLS");
    stream_.start_tls(*server_.tls_credentials(), [this, self = shared_from_this()](const std::string& failed) {
        if (!failed.empty()) return close(failed);
        if (auto id = stream_.tls()->client_identity()) {
            catalog_.set_initiator(server_.access().initiator_for(*id));
            spdlog::info("nbd {}: TLS identity '{}' acts as initiator {}", peer_, *id, *catalog_.initiator());
        }
        handshake_->tls_started();
        handshake_read();
    });
}

Connection::Connection(asio::ip::tcp::socket socket, ServerImpl& server, std::uint64_t id)
    : stream_(std::move(socket)),
      exec_(stream_.executor()),
      server_(server),
      id_(id),
      peer_(stream_.peer()),
      catalog_(server, server.access()),
      handshake_timer_(exec_) {
    rbuf_.resize(kHandshakeBuffer);  // idle connections that never finish the handshake cost little
    writes_ = server_.write_budget()->open_account();
}

Connection::~Connection() = default;

// ---- Handshake ---------------------------------------------------------------------------

// The acceptor's loop is not this connection's: its timer and first write start on its own.
void Connection::start() {
    asio::dispatch(exec_, [self = shared_from_this()] { self->begin(); });
}

void Connection::begin() {
    if (closed_) return;
    spdlog::debug("nbd {}: connection", peer_);
    arm_handshake_timer();
    handshake_.emplace(catalog_, server_.tls_policy());
    Handshake::greeting(hs_out_);
    handshake_write(true);
}

void Connection::arm_handshake_timer() {
    const unsigned seconds = server_.handshake_timeout_s();
    if (seconds == 0) return;
    handshake_timer_.expires_after(std::chrono::seconds(seconds));
    handshake_timer_.async_wait([this, self = shared_from_this(), seconds](std::error_code ec) {
        if (ec || closed_ || transmission_) return;
        spdlog::info("nbd {}: handshake not finished within {} s, closing", peer_, seconds);
        close("handshake timeout");
    });
}

void Connection::handshake_write(bool then_read) {
    auto self = shared_from_this();
    stream_.write(asio::buffer(hs_out_), [this, self, then_read](std::error_code ec, std::size_t) {
        hs_out_.clear();
        if (closed_) return;
        if (ec) return close("write failed: " + ec.message());
        if (!handshake_) return;
        switch (handshake_->state()) {
            case Handshake::State::haggling:
                if (then_read) handshake_read();
                return;
            case Handshake::State::transmission:
                return enter_transmission();
            case Handshake::State::aborted:
                return close("client aborted the handshake");
            case Handshake::State::failed:
                return close(handshake_->error());
            case Handshake::State::starttls:
                return start_tls();
        }
    });
}

void Connection::handshake_read() {
    auto self = shared_from_this();
    if (shutting_down_) return close("server shutting down");
    stream_.read_some(asio::buffer(rbuf_.data() + rlen_, rbuf_.size() - rlen_), [this, self](std::error_code ec, std::size_t n) {
        if (closed_) return;
        if (ec) return close(ec == asio::error::eof ? "peer closed during the handshake" : ec.message());
        rlen_ += n;
        const std::size_t used =
            handshake_->feed(std::span<const std::uint8_t>(rbuf_.data() + rpos_, rlen_ - rpos_), hs_out_);
        rpos_ += used;
        if (rpos_ == rlen_) rpos_ = rlen_ = 0;
        const auto st = handshake_->state();
        if (st == Handshake::State::failed) {
            spdlog::info("nbd {}: handshake failed: {}", peer_, handshake_->error());
            return close(handshake_->error());
        }
        if (!hs_out_.empty()) return handshake_write(true);
        if (st == Handshake::State::haggling) handshake_read();
    });
}

void Connection::enter_transmission() {
    const Negotiated n = handshake_->result();
    handshake_.reset();
    ExportLimits& lim = plan_.limits;
    lim.size_bytes = n.exp.size_bytes;
    lim.block_size = n.exp.block_size;
    lim.read_only = n.exp.read_only;
    lim.thin = n.exp.thin;
    lim.structured = n.structured;
    lim.base_allocation = n.base_allocation;
    sam_lun_ = encode_sam_lun(n.exp.lun);
    plan_.zero_block.assign(n.exp.block_size, std::byte{0});
    plan_.peer = peer_;
    plan_.lend = stream_.tls() == nullptr;
    handshake_timer_.cancel();
    rbuf_.resize(kReceiveBuffer);  // keeps bytes the client sent past the handshake
    // Publish first, then decide under the current rules: an access change either happens
    // before this decision or finds this connection in its recheck (ServerImpl::recheck_access).
    {
        std::lock_guard lk(server_.access_mutex());
        serving_ = Serving{peer_, catalog_.initiator(), n.exp.target_id, n.exp.lun};
    }
    const auto access = server_.access().decide(catalog_.initiator(), n.exp.target_id, n.exp.lun);
    if (!access.allowed) {
        spdlog::info("nbd {}: export '{}' refused: {}", peer_, n.exp.name, access.why);
        return close("access refused: " + access.why);
    }
    // The initiator port names the client's initiator when TLS proved one, as an iSCSI
    // session's does; the mask goes to the engine, which refuses any other LUN.
    const std::string port = (catalog_.initiator() ? *catalog_.initiator() + ",nbd:" : std::string("nbd:")) + peer_ +
                             ",c" + std::to_string(id_);
    nexus_ = server_.adapter().open_nexus(n.exp.target_id, port, server_.relative_port(), access.visible_luns);
    if (!nexus_) return close("cannot open an I_T nexus to target " + std::to_string(n.exp.target_id));
    spdlog::info("nbd {}: export '{}' (target {} LUN {}, {} bytes, flags {:#x}{})", peer_, n.exp.name,
                 n.exp.target_id, n.exp.lun, n.exp.size_bytes, n.flags, n.structured ? ", structured replies" : "");
    transmission_ = true;
    if (shutting_down_) {
        draining_ = true;
        return maybe_finish();
    }
    // Learn the UNMAP / WRITE SAME limits from the Block Limits VPD page before serving.
    Req* r = get_req(RequestHeader{});
    drive(r, r->plan.begin_probe(plan_));
    complete_inline();  // an INQUIRY the engine answered inside submit()
}

void Connection::on_probe_done(Req* r) {
    if (const auto& lim = r->plan.probed_limits()) plan_.block_limits = *lim;
    recycle(r);
    pump();
}

// ---- Requests ----------------------------------------------------------------------------

Connection::Req* Connection::get_req(const RequestHeader& h) {
    Req* r;
    if (free_reqs_.empty()) {
        all_reqs_.push_back(std::make_unique<Req>());
        r = all_reqs_.back().get();
    } else {
        r = free_reqs_.back();
        free_reqs_.pop_back();
    }
    r->plan.reset(h);
    r->data_len = r->head_len = 0;
    r->bytes = 0;
    ++inflight_;
    return r;
}

void Connection::recycle(Req* r) {
    --inflight_;
    inflight_bytes_ -= r->bytes;
    r->bytes = 0;
    r->hold.release();
    r->plan.command().nexus.reset();
    r->done.data_view.reset();  // lent memory goes back once the reply is sent
    auto& buf = r->plan.buffer();
    if (buf.capacity() > kKeepBufferCapacity) std::vector<std::byte>().swap(buf);
    free_reqs_.push_back(r);
}

void Connection::execute(Req* r) { drive(r, r->plan.begin(plan_)); }

void Connection::drive(Req* r, Step step) {
    switch (step) {
        case Step::submit:
            return submit(r);
        case Step::reply_ok:
            return reply_ok(r);
        case Step::reply_read:
            return reply_read(r);
        case Step::reply_extents:
            return reply_block_status(r);
        case Step::reply_error:
            return reply_error(r);
        case Step::probed:
            return on_probe_done(r);
    }
}

void Connection::submit(Req* r) {
    Command& c = r->plan.command();
    c.nexus = nexus_;
    c.lun = sam_lun_;
    c.tag = next_tag_++;
    c.attr = TaskAttribute::simple;
    r->owner = shared_from_this();
    auto* in_engine = &server_.commands_in_engine();
    in_engine->fetch_add(1);
    // Two pointers: the std::function keeps them inline (no allocation per command).
    auto done = [r, in_engine](const Completion& c) {
        r->done = c;
        Connection* conn = r->owner.get();
        // On the loop, inside this connection's submit(): answered in the pump turn, no post.
        if (!InlineDone::keep(conn, r)) asio::post(conn->exec_, [r] { r->owner->on_complete(r); });
        in_engine->fetch_sub(1);
    };
    InlineDone::Submitting scope(inline_done_, this);
    server_.adapter().submit(c, done);
}

// A completion posted from another thread: its reply waits for the pump turn posted once for
// all the completions queued meanwhile, so they share one write.
void Connection::on_complete(Req* r) {
    finish_command(r);
    if (pump_posted_) return;
    pump_posted_ = true;
    asio::post(exec_, [self = shared_from_this()] {
        self->pump_posted_ = false;
        self->pump();
    });
}

// Re-entrant: finish_command() may submit again (the next TRIM chunk) or pump (the probe).
void Connection::complete_inline() {
    inline_done_.run([this](Req* r) { finish_command(r); });
}

void Connection::finish_command(Req* r) {
    const auto self = std::move(r->owner);
    if (closed_) return recycle(r);
    drive(r, r->plan.complete(r->done));
}

// ---- Ending ------------------------------------------------------------------------------

void Connection::maybe_finish() {
    if (closed_ || !draining_) return;
    if (inflight_ == 0 && !write_pending_ && wq_.empty()) close(shutting_down_ ? "server shutting down" : "client done");
}

void Connection::shutdown_async() {
    asio::post(exec_, [self = shared_from_this()] {
        if (self->closed_) return;
        self->shutting_down_ = true;
        if (!self->transmission_) return self->close("server shutting down");
        self->draining_ = true;
        self->stream_.shutdown_receive();
        self->maybe_finish();
    });
}

void Connection::close_async(std::string why) {
    asio::post(exec_, [self = shared_from_this(), why = std::move(why)] { self->close(why); });
}

void Connection::close(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    finished_ = true;
    spdlog::debug("nbd {}: closing: {}", peer_, why);
    handshake_timer_.cancel();
    if (serving_) {
        std::lock_guard lk(server_.access_mutex());
        serving_.reset();
    }
    stream_.close();
    if (discard_req_) recycle(std::exchange(discard_req_, nullptr));
    writes_->forget_waiter(this);
    for (Req* r : wq_) recycle(r);
    wq_.clear();
    // SPC-2 reservations of this nexus end with it; its tasks are aborted.
    if (nexus_) server_.adapter().nexus_lost(nexus_);
    server_.untrack(this);
}

}  // namespace vstor::nbd
