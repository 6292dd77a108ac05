// The other side of fuzz_bridge_service: what a user-mode process hands vstor.sys through
// VSTOR_BRIDGE_IOCTL (bytes into the kernel). The driver's sources, compiled natively, run in the
// StorPort emulator (windows/sim) with SRBs in flight; the input is a script of service calls:
// SRBs started, TRANSACTs whose completion answers a request the driver handed out (its tag real,
// stale or invented, its lengths, result and sense arbitrary), raw IOCTLs with any header and
// lengths, LUN announcements and new sessions. The oracle, after an orderly DISCONNECT: every SRB
// completed (exactly once: the emulator reports a second completion), no byte past an SRB's
// buffer written, and no other violation of the StorPort contract the emulator checks.
//
// Calls that would park (TRANSACT without NO_WAIT, HOLD) are not made: the emulator's
// DeviceIoControl blocks until the IRP completes, and parking has tests of its own (storport label).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "hand_service.hpp"
#include "storport_helpers.hpp"
#include "storport_sim.hpp"
#include "vstor/bridge_protocol.h"

namespace {

using namespace vstor::storport_sim;
using namespace vstor::storport_sim::test;

// The input, read front to back; zeroes once it runs out.
class Script {
public:
    Script(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
    bool more() const { return at_ < n_; }
    std::uint8_t u8() { return at_ < n_ ? d_[at_++] : 0; }
    std::uint16_t u16() { return static_cast<std::uint16_t>(u8() | u8() << 8); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(u16() | static_cast<std::uint32_t>(u16()) << 16); }
    std::size_t copy(std::uint8_t* out, std::size_t n) {
        n = std::min(n, n_ - at_);
        std::memcpy(out, d_ + at_, n);
        at_ += n;
        return n;
    }

private:
    const std::uint8_t* d_;
    std::size_t n_, at_ = 0;
};

[[noreturn]] void fail(const std::string& why) {
    std::fprintf(stderr, "fuzz_driver_channel: %s\n", why.c_str());
    std::abort();
}

class Channel {
public:
    // `buf`: VSTOR_TRANSACT_MIN_BUFFER bytes, kept from one input to the next (a fresh megabyte per
    // call cost each run ~20 ms of page faults under ASan).
    Channel(Emulator& emu, std::vector<std::uint8_t>& buf) : emu_(emu), svc_{emu, 1}, buf_(buf) {}

    bool connect() { return svc_.connect(buf_) == STATUS_SUCCESS && svc_.announce_lun0(buf_) == STATUS_SUCCESS; }
    bool connected() const { return svc_.session != 0; }

    void start_srb(Script& s) {
        if (emu_.outstanding() >= 32) return;
        const std::uint8_t b = s.u8();
        const auto blocks = static_cast<std::uint16_t>(b % 9);
        const bool write = b & 0x10;
        std::vector<std::uint8_t> payload(blocks * kBlock, b);
        srbs_.push_back(emu_.start(0, (b & 0x20) ? 1 : 0, cdb_rw10(write, s.u16(), blocks),
                                   blocks ? (write ? SRB_FLAGS_DATA_OUT : SRB_FLAGS_DATA_IN) : 0, blocks * kBlock,
                                   write ? payload.data() : nullptr));
    }

    // TRANSACT, NO_WAIT, optionally answering one request the driver handed out (or one it did not).
    void transact(Script& s, bool with_completion) {
        std::uint32_t flags = VSTOR_FLAG_NO_WAIT;
        std::uint32_t in_len = sizeof(vstor_bridge_header);
        if (with_completion) {
            flags |= VSTOR_FLAG_HAS_COMPLETION;
            const std::uint8_t how = s.u8();
            vstor_bridge_completion c{};
            const vstor_bridge_request* real = handed_.empty() ? nullptr : &handed_[s.u8() % handed_.size()];
            c.tag = !real || (how & 3) == 0 ? s.u32()
                    : (how & 3) == 1        ? real->tag + (std::uint64_t{1} << 32)  // another generation
                                            : real->tag;
            const std::uint32_t want = real ? real->data_length : kBlock;
            switch ((how >> 2) & 3) {
                case 0: c.data_length = want; break;
                case 1: c.data_length = want + 1 + s.u16(); break;
                case 2: c.data_length = s.u32(); break;
                default: c.data_length = want ? s.u16() % want : 0; break;
            }
            c.result = s.u8() % 6;
            c.scsi_status = (how & 0x10) ? 0x02 : 0;
            c.sense_length = (how & 0x20) ? s.u8() : 18;
            std::memcpy(buf_.data() + sizeof(vstor_bridge_header), &c, sizeof(c));
            const std::uint32_t honest = VSTOR_TRANSACT_IN_DATA_OFFSET + std::min<std::uint32_t>(c.data_length, 8 * kBlock);
            in_len = (how & 0x40) ? s.u16() : honest;
            std::fill_n(buf_.data() + VSTOR_TRANSACT_IN_DATA_OFFSET, 8 * kBlock, static_cast<std::uint8_t>(how));
        }
        svc_.put_header(buf_, VSTOR_OP_TRANSACT, flags);
        call(in_len, static_cast<std::uint32_t>(buf_.size()));
    }

    // Any header and lengths; only the calls that would park are turned into ones that do not.
    void raw(Script& s) {
        vstor_bridge_header h{};
        const std::uint8_t how = s.u8();
        h.magic = (how & 1) ? s.u32() : VSTOR_BRIDGE_MAGIC;
        h.version = (how & 2) ? s.u16() : VSTOR_BRIDGE_VERSION;
        h.op = static_cast<std::uint16_t>(s.u8() % 7);
        h.session = (how & 4) ? s.u32() : svc_.session;
        h.flags = s.u32();
        if (h.op == VSTOR_OP_HOLD) h.op = VSTOR_OP_TRANSACT;
        if (h.op == VSTOR_OP_TRANSACT) h.flags |= VSTOR_FLAG_NO_WAIT;
        std::memcpy(buf_.data(), &h, sizeof(h));
        const std::size_t body = s.copy(buf_.data() + sizeof(h), s.u8());
        const std::uint32_t in_len = (how & 8) ? s.u16() : static_cast<std::uint32_t>(sizeof(h) + body);
        const std::uint32_t out_len = (how & 16) ? s.u16() : static_cast<std::uint32_t>(buf_.size());
        const auto r = call(in_len, out_len, (how & 32) ? s.u32() : VSTOR_BRIDGE_IOCTL);
        if (h.op == VSTOR_OP_CONNECT && r.status == STATUS_SUCCESS && r.information >= sizeof(vstor_bridge_connect_reply)) {
            vstor_bridge_connect_reply reply;
            std::memcpy(&reply, buf_.data(), sizeof(reply));
            svc_.session = reply.session;
        }
        if (h.op == VSTOR_OP_DISCONNECT && r.status == STATUS_SUCCESS) svc_.session = 0;
    }

    void announce(Script& s) {
        const std::uint8_t b = s.u8();
        svc_.announce(buf_, b % 10, (b >> 4) % 10, !(b & 0x80));  // targets and LUNs two past the last
    }

    // The orderly end, then the oracle. A CONNECT first (the same process replaces its session), so
    // the DISCONNECT ends whatever session the script left, whether or not it knows its id.
    void finish() {
        if (!connect()) fail("CONNECT refused at the end");
        svc_.put_header(buf_, VSTOR_OP_DISCONNECT);
        if (svc_.call(buf_, sizeof(vstor_bridge_header)).status != STATUS_SUCCESS) fail("DISCONNECT refused");
        for (std::size_t i = 0; i < srbs_.size(); ++i) {
            if (!emu_.wait(srbs_[i], std::chrono::seconds(10))) fail("SRB " + std::to_string(i) + " never completed");
            if (!srbs_[i]->guard_intact()) fail("SRB " + std::to_string(i) + ": bytes past its buffer written");
        }
    }

private:
    IoctlResult call(std::uint32_t in_len, std::uint32_t out_len, std::uint32_t code = VSTOR_BRIDGE_IOCTL) {
        in_len = std::min<std::uint32_t>(in_len, static_cast<std::uint32_t>(buf_.size()));
        out_len = std::min<std::uint32_t>(out_len, static_cast<std::uint32_t>(buf_.size()));
        const auto r = emu_.device_ioctl(1, code, buf_.data(), in_len, out_len);
        vstor_bridge_header h;
        std::memcpy(&h, buf_.data(), sizeof(h));
        if (code == VSTOR_BRIDGE_IOCTL && r.status == STATUS_SUCCESS && r.information >= VSTOR_TRANSACT_OUT_DATA_OFFSET &&
            h.op == VSTOR_OP_TRANSACT) {
            vstor_bridge_request req;
            std::memcpy(&req, buf_.data() + sizeof(vstor_bridge_header), sizeof(req));
            if (req.kind == VSTOR_REQ_SCSI && handed_.size() < 256) handed_.push_back(req);
        }
        return r;
    }

    Emulator& emu_;
    HandService svc_;
    std::vector<std::uint8_t>& buf_;
    std::vector<RequestPtr> srbs_;
    std::vector<vstor_bridge_request> handed_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    EmulatorOptions options;
    options.retry_busy = false;  // a BUSY SRB completes at once rather than after paced re-issues
    Emulator emu{native_driver(), options};
    if (emu.load_driver() != STATUS_SUCCESS) fail("DriverEntry failed");
    std::string why;
    if (!emu.start_adapter(&why)) fail("adapter did not start: " + why);
    {
        static std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
        Channel ch{emu, buf};
        if (!ch.connect()) fail("CONNECT or LUN refused");
        Script s{data, size};
        for (int step = 0; step < 64 && s.more(); ++step) {
            switch (s.u8() % 8) {
                case 0:
                case 1: ch.start_srb(s); break;
                case 2:
                case 3: ch.transact(s, true); break;
                case 4: ch.transact(s, false); break;
                case 5: ch.raw(s); break;
                case 6: ch.announce(s); break;
                default:
                    if (!ch.connected()) ch.connect();
                    break;
            }
        }
        ch.finish();
    }
    emu.stop_adapter();
    const auto v = emu.violations();
    if (!v.empty()) fail("StorPort contract: " + v.front());
    return 0;
}
