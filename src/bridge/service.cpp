#include "bridge/service.hpp"

#include <algorithm>
#include <cstring>

namespace vstor::bridge {

namespace {

bool nt_success(std::int32_t s) { return s >= 0; }

void write_header(std::uint8_t* buf, std::uint16_t op, std::uint32_t session, std::uint32_t flags) {
    vstor_bridge_header h{};
    h.magic = VSTOR_BRIDGE_MAGIC;
    h.version = VSTOR_BRIDGE_VERSION;
    h.op = op;
    h.session = session;
    h.flags = flags;
    std::memcpy(buf, &h, sizeof(h));
}

constexpr std::uint32_t kHeader = sizeof(vstor_bridge_header);
constexpr std::uint32_t kInData = VSTOR_TRANSACT_IN_DATA_OFFSET;
constexpr std::uint32_t kOutData = VSTOR_TRANSACT_OUT_DATA_OFFSET;

}  // namespace

// A request in the engine. Its buffer is laid out as the TRANSACT that will carry the answer
// (header | completion | data-in): the input is its first VSTOR_TRANSACT_IN_DATA_OFFSET bytes, and
// the whole buffer is the output, from which the driver copies the data-in straight into the SRB
// (direct I/O), so the engine writes data-in where the driver takes it from. Data-out is the same
// region, copied once out of the dispatcher's buffer so that buffer can fetch more work.
struct Service::Pending {
    vstor_bridge_request req{};
    std::vector<std::uint8_t> buf;
    std::uint32_t in_len = kInData;  // bytes of `buf` the driver reads: the header, completion and data-in
};

Service::Service(Adapter& adapter, Channel& channel, ServiceOptions opts)
    : adapter_(adapter), channel_(channel), opts_(std::move(opts)) {}

Service::~Service() { stop(); }

void Service::on_lun_event(const LunEvent& e) {
    if (e.change != LunChange::added && e.change != LunChange::removed) return;  // SCSI unit attentions
    if (stopping_) return;
    // One LUN notice: the driver answers it at once (it never parks), so the bus is not held up.
    (void)announce(e.target_id, e.lun, e.change == LunChange::added);  // fails only when the driver is gone
}

Status Service::start() {
    vstor_bridge_connect c{};
    std::uint8_t buf[sizeof(vstor_bridge_connect_reply)] = {};
    write_header(reinterpret_cast<std::uint8_t*>(&c), VSTOR_OP_CONNECT, 0, 0);
    c.buffer_size = VSTOR_TRANSACT_MIN_BUFFER;
    std::memcpy(buf, &c, sizeof(c));
    const auto r = channel_.ioctl(buf, sizeof(c), sizeof(buf));
    if (!nt_success(r.status) || r.information < sizeof(vstor_bridge_connect_reply))
        return error_status("bridge: CONNECT failed, status " + std::to_string(r.status));
    vstor_bridge_connect_reply reply;
    std::memcpy(&reply, buf, sizeof(reply));
    if (reply.hdr.magic != VSTOR_BRIDGE_MAGIC || reply.hdr.version != VSTOR_BRIDGE_VERSION || reply.session == 0)
        return error_status("bridge: driver speaks another protocol version");
    if (reply.min_buffer_size > VSTOR_TRANSACT_MIN_BUFFER)
        return error_status("bridge: driver wants larger buffers than this service posts");
    session_ = reply.session;
    stopping_ = false;
    // Subscribed before the present LUNs are listed, so none added meanwhile is missed (one may be
    // announced twice: the driver ignores a repeated notice).
    lun_events_ = adapter_.subscribe_lun_events([this](const LunEvent& e) { on_lun_event(e); });
    for (const auto& t : adapter_.targets())
        for (const auto& l : t.luns)
            if (auto st = announce(t.id, l.lun, true); !st) {
                lun_events_.reset();
                return st;
            }
    if (opts_.hold_liveness_irp) {
        liveness_ = std::thread([this] {
            std::uint8_t hold[kHeader];
            write_header(hold, VSTOR_OP_HOLD, session_, 0);
            channel_.ioctl(hold, sizeof(hold), sizeof(hold));  // returns when the session ends
        });
    }
    for (unsigned i = 0; i < std::max(1u, opts_.completers); ++i) completers_.emplace_back([this] { completer(); });
    for (unsigned i = 0; i < std::max(1u, opts_.threads); ++i) threads_.emplace_back([this] { dispatcher(); });
    return ok_status();
}

Status Service::announce(std::uint16_t target_id, std::uint16_t lun, bool present) {
    if (target_id >= VSTOR_BRIDGE_MAX_TARGETS || lun >= VSTOR_BRIDGE_MAX_LUNS)
        return error_status("bridge: StorPort addresses targets 0-7 and LUNs 0-7 only");
    std::uint8_t buf[sizeof(vstor_bridge_lun)] = {};
    vstor_bridge_lun m{};
    write_header(reinterpret_cast<std::uint8_t*>(&m), VSTOR_OP_LUN, session_, 0);
    m.path_id = 0;
    m.target_id = static_cast<std::uint8_t>(target_id);
    m.lun = static_cast<std::uint8_t>(lun);
    m.present = present ? 1 : 0;
    std::memcpy(buf, &m, sizeof(m));
    const auto r = channel_.ioctl(buf, sizeof(m), sizeof(buf));
    if (!nt_success(r.status)) return error_status("bridge: LUN announcement failed, status " + std::to_string(r.status));
    return ok_status();
}

void Service::stop() {
    lun_events_.reset();  // returns once no announcement from the bus is under way
    if (threads_.empty() && completers_.empty() && !liveness_.joinable()) return;
    stopping_ = true;
    std::uint8_t buf[kHeader];
    write_header(buf, VSTOR_OP_DISCONNECT, session_, 0);
    channel_.ioctl(buf, sizeof(buf), sizeof(buf));  // parked IRPs come back with an error
    join();
}

void Service::join() {
    for (auto& t : threads_) t.join();
    threads_.clear();
    if (liveness_.joinable()) liveness_.join();
    {
        // No dispatcher is left to submit. The completers finish when the engine has returned every
        // request (a stalled backend may still hold some: their callbacks need this object).
        std::lock_guard lk(done_mu_);
        stopping_ = true;
        completers_stop_ = true;
    }
    done_cv_.notify_all();
    for (auto& t : completers_) t.join();
    completers_.clear();
    {
        std::lock_guard lk(done_mu_);
        completers_stop_ = false;
    }
    std::lock_guard lk(nexus_mu_);
    for (auto& [id, n] : nexuses_) adapter_.nexus_lost(n);
    nexuses_.clear();
}

std::shared_ptr<Nexus> Service::nexus_for(std::uint16_t target_id) {
    std::lock_guard lk(nexus_mu_);
    auto& n = nexuses_[target_id];
    if (!n) n = adapter_.open_nexus(target_id, opts_.initiator_port);
    return n;
}

void Service::dispatcher() {
    // Fetches work and hands it on; never waits for the engine.
    std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
    while (!stopping_) {
        write_header(buf.data(), VSTOR_OP_TRANSACT, session_, 0);
        const auto r = channel_.ioctl(buf.data(), kHeader, static_cast<std::uint32_t>(buf.size()));
        if (!nt_success(r.status)) return;  // session over: disconnected, replaced, removed, or we died
        if (!handle(buf.data(), r.information)) return;
    }
}

void Service::completer() {
    // Sends completions back without parking; whatever request the driver returns with the answer
    // goes to the engine like any other. The request's own buffer is the output (the driver reads
    // the data-in from it and writes the next request into it, if one fits).
    for (;;) {
        std::unique_ptr<Pending> p;
        {
            std::unique_lock lk(done_mu_);
            done_cv_.wait(lk, [&] { return !done_.empty() || (completers_stop_ && stats_.in_flight.load() == 0); });
            if (done_.empty()) return;
            p = std::move(done_.front());
            done_.pop_front();
        }
        write_header(p->buf.data(), VSTOR_OP_TRANSACT, session_, VSTOR_FLAG_HAS_COMPLETION | VSTOR_FLAG_NO_WAIT);
        const auto r = channel_.ioctl(p->buf.data(), kInData, p->buf.data(), static_cast<std::uint32_t>(p->buf.size()),
                                      p->in_len);
        {
            std::lock_guard lk(done_mu_);
            --stats_.in_flight;
        }
        done_cv_.notify_all();
        if (nt_success(r.status) && !stopping_) handle(p->buf.data(), r.information);
    }
}

bool Service::handle(const std::uint8_t* buf, std::uint32_t info) {
    if (info < kOutData) {
        ++stats_.bad_requests;
        return true;
    }
    vstor_bridge_request req;
    std::memcpy(&req, buf + kHeader, sizeof(req));
    switch (req.kind) {
        case VSTOR_REQ_NONE:
            return true;
        case VSTOR_REQ_SHUTDOWN:
            return false;
        case VSTOR_REQ_BUS_RESET:
        case VSTOR_REQ_LUN_RESET: {
            // The driver already failed the SRBs; make the engine drop the tasks too.
            const bool lun = req.kind == VSTOR_REQ_LUN_RESET;
            for (const auto& t : adapter_.targets()) {
                if (req.target_id != 0xFF && t.id != req.target_id) continue;
                TmfRequest tmf;
                tmf.nexus = nexus_for(t.id);
                tmf.function = lun ? TmfFunction::lun_reset : TmfFunction::target_warm_reset;
                tmf.lun = encode_sam_lun(lun ? req.lun : 0);
                adapter_.task_management(tmf);
            }
            // Counted once the engine is done: the reset waits for the tasks inside backends, whose
            // (stale) replies reach the driver before it returns and sets the UNIT ATTENTION.
            ++(lun ? stats_.lun_resets : stats_.bus_resets);
            return true;
        }
        case VSTOR_REQ_SCSI:
            break;
        default:
            ++stats_.bad_requests;
            return true;
    }
    const bool out = req.direction == VSTOR_DIR_OUT;
    if (req.data_length > VSTOR_BRIDGE_MAX_TRANSFER || req.cdb_length == 0 || req.cdb_length > VSTOR_BRIDGE_MAX_CDB ||
        (out && info < kOutData + req.data_length)) {
        ++stats_.bad_requests;
        return true;  // the driver's watchdog or a reset will finish that SRB
    }
    submit(buf, info, req);
    return true;
}

void Service::submit(const std::uint8_t* buf, std::uint32_t, const vstor_bridge_request& req) {
    ++stats_.commands;
    auto p = std::make_unique<Pending>();
    p->req = req;
    p->buf.assign(kInData + req.data_length, 0);
    {
        std::lock_guard lk(done_mu_);
        ++stats_.in_flight;
    }
    const auto addr = adapter_.storport_address(req.path_id, req.target_id, req.lun);
    if (!addr) {
        vstor_bridge_completion comp{};
        comp.tag = req.tag;
        comp.result = VSTOR_RESULT_NO_DEVICE;
        std::memcpy(p->buf.data() + kHeader, &comp, sizeof(comp));
        p->in_len = kInData;
        finished(std::move(p));
        return;
    }
    const bool out = req.direction == VSTOR_DIR_OUT;
    std::uint8_t* data = p->buf.data() + kInData;
    if (out) std::memcpy(data, buf + kOutData, req.data_length);

    Command cmd;
    cmd.nexus = nexus_for(addr->target_id);
    cmd.lun = encode_sam_lun(addr->lun);
    std::memcpy(cmd.cdb.data(), req.cdb, req.cdb_length);
    cmd.cdb_len = req.cdb_length;
    cmd.tag = req.tag;
    cmd.attr = req.attribute == VSTOR_ATTR_HEAD_OF_QUEUE ? TaskAttribute::head_of_queue
               : req.attribute == VSTOR_ATTR_ORDERED     ? TaskAttribute::ordered
                                                         : TaskAttribute::simple;
    cmd.dir = req.direction == VSTOR_DIR_IN ? DataDirection::read : out ? DataDirection::write : DataDirection::none;
    cmd.expected_length = req.data_length;
    cmd.data = std::span<std::byte>(reinterpret_cast<std::byte*>(data), req.data_length);

    Pending* raw = p.release();  // owned by the callback until it runs (exactly once)
    adapter_.submit(std::move(cmd), [this, raw](const Completion& c) {
        std::unique_ptr<Pending> p(raw);
        vstor_bridge_completion comp{};
        comp.tag = p->req.tag;
        comp.result = c.aborted ? VSTOR_RESULT_ABORTED : VSTOR_RESULT_OK;
        comp.scsi_status = c.status;
        comp.sense_length = static_cast<std::uint8_t>(std::min<std::size_t>(c.sense_len, VSTOR_BRIDGE_MAX_SENSE));
        std::memcpy(comp.sense, c.sense.data(), comp.sense_length);
        if (p->req.direction == VSTOR_DIR_IN) {
            comp.data_length = std::min(c.data_in_len, p->req.data_length);
        } else if (p->req.direction == VSTOR_DIR_OUT) {
            const std::int64_t residual = std::clamp<std::int64_t>(c.residual, 0, p->req.data_length);
            comp.data_length = p->req.data_length - static_cast<std::uint32_t>(residual);
        }
        std::memcpy(p->buf.data() + kHeader, &comp, sizeof(comp));
        p->in_len = kInData + (p->req.direction == VSTOR_DIR_IN ? comp.data_length : 0);
        finished(std::move(p));
    });
}

void Service::finished(std::unique_ptr<Pending> p) {
    {
        std::lock_guard lk(done_mu_);
        done_.push_back(std::move(p));
    }
    done_cv_.notify_all();
}

}  // namespace vstor::bridge
