// libFuzzer target: what vstor.sys hands the StorPort service (src/bridge/service.cpp), i.e. the
// bytes a kernel driver writes into the service's TRANSACT buffers. The input is a list of driver
// outputs, each `u16 length` + that many bytes (header, vstor_bridge_request, data-out); a fake
// channel plays the driver, returning them in order to the service's dispatcher, which runs them
// through a real engine with two mem LUNs. Checks what the driver relies on:
// - every well-formed SCSI request (bridge_protocol.h's limits) is answered exactly once, with its
//   tag, a known result, at most its own data length and a sense of at most 252 bytes, and the
//   completion's input length covers exactly the data-in it reports;
// - nothing else is answered, and every malformed request is counted in bad_requests;
// sanitizers catch memory errors, leaks and races.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "bridge/service.hpp"
#include "vstor/adapter.hpp"
#include "vstor/bridge_protocol.h"

namespace {

using vstor::bridge::IoctlResult;
using vstor::bridge::kStatusUnsuccessful;
constexpr std::uint32_t kHeader = sizeof(vstor_bridge_header);
constexpr std::uint32_t kInData = VSTOR_TRANSACT_IN_DATA_OFFSET;
constexpr std::uint32_t kOutData = VSTOR_TRANSACT_OUT_DATA_OFFSET;
constexpr std::uint32_t kSession = 7;

[[noreturn]] void fail() { __builtin_trap(); }

struct Engine {
    std::unique_ptr<vstor::Adapter> adapter = vstor::Adapter::create();
    Engine() {
        const auto tid = *adapter->add_target("iqn.2026-12.org.vstor:fuzz-bridge").value;
        (void)adapter->add_lun(tid, 0, std::make_shared<vstor::backends::MemBackend>(4u << 20, 512));
        (void)adapter->add_lun(tid, 1, std::make_shared<vstor::backends::MemBackend>(1u << 20, 4096));
    }
};

// The driver's side of the channel, scripted by the fuzz input.
class FakeDriver final : public vstor::bridge::Channel {
public:
    explicit FakeDriver(std::deque<std::vector<std::uint8_t>> outputs) : outputs_(std::move(outputs)) {}

    IoctlResult ioctl(const void* in, std::uint32_t in_len, void* out, std::uint32_t out_len,
                      std::uint32_t out_in) override {
        if (in_len < kHeader) fail();
        vstor_bridge_header h;
        std::memcpy(&h, in, sizeof(h));
        if (h.magic != VSTOR_BRIDGE_MAGIC || h.version != VSTOR_BRIDGE_VERSION) fail();
        switch (h.op) {
            case VSTOR_OP_CONNECT: {
                vstor_bridge_connect_reply r{};
                r.hdr = h;
                r.session = kSession;
                r.max_transfer = VSTOR_BRIDGE_MAX_TRANSFER;
                r.max_outstanding = 64;
                r.min_buffer_size = VSTOR_TRANSACT_MIN_BUFFER;
                r.max_targets = VSTOR_BRIDGE_MAX_TARGETS;
                r.max_luns = VSTOR_BRIDGE_MAX_LUNS;
                if (out_len < sizeof(r)) fail();
                std::memcpy(out, &r, sizeof(r));
                return {0, sizeof(r)};
            }
            case VSTOR_OP_LUN:
            case VSTOR_OP_DISCONNECT:
                return {0, 0};
            case VSTOR_OP_TRANSACT:
                if (h.session != kSession) fail();
                if (h.flags & VSTOR_FLAG_HAS_COMPLETION) return complete(static_cast<const std::uint8_t*>(in), out, out_len, out_in);
                return next_output(out, out_len);
            default:
                fail();  // the service sends nothing else (no HOLD: hold_liveness_irp is off)
        }
    }

    // After the service stopped: every well-formed request was answered.
    void check_done(std::uint64_t bad_requests) const {
        std::lock_guard lk(mu_);
        if (!expected_.empty()) fail();
        if (bad_requests != malformed_) fail();
    }

private:
    // The dispatcher's parked TRANSACT: the next scripted output, or the session's end.
    IoctlResult next_output(void* out, std::uint32_t out_len) {
        std::lock_guard lk(mu_);
        if (outputs_.empty()) return {kStatusUnsuccessful, 0};
        auto o = std::move(outputs_.front());
        outputs_.pop_front();
        const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(o.size(), out_len));
        if (n) std::memcpy(out, o.data(), n);
        expect(o.data(), n);
        return {0, n};
    }

    // What the service must do with `n` bytes of output (bridge_protocol.h, not the service's code).
    void expect(const std::uint8_t* b, std::uint32_t n) {
        if (n < kOutData) {
            ++malformed_;
            return;
        }
        vstor_bridge_request r;
        std::memcpy(&r, b + kHeader, sizeof(r));
        if (r.kind == VSTOR_REQ_NONE || r.kind == VSTOR_REQ_BUS_RESET || r.kind == VSTOR_REQ_LUN_RESET) return;
        if (r.kind == VSTOR_REQ_SHUTDOWN) {
            outputs_.clear();  // the dispatcher stops asking
            return;
        }
        if (r.kind != VSTOR_REQ_SCSI || r.data_length > VSTOR_BRIDGE_MAX_TRANSFER || r.cdb_length == 0 ||
            r.cdb_length > VSTOR_BRIDGE_MAX_CDB || (r.direction == VSTOR_DIR_OUT && n < kOutData + r.data_length)) {
            ++malformed_;
            return;
        }
        expected_.emplace(r.tag, r);
    }

    // A completer's TRANSACT: check the answer against the request it names.
    IoctlResult complete(const std::uint8_t* in, void* out, std::uint32_t out_len, std::uint32_t out_in) {
        if (out_in < kInData) fail();
        vstor_bridge_completion c;
        std::memcpy(&c, in + kHeader, sizeof(c));
        {
            std::lock_guard lk(mu_);
            if (c.result != VSTOR_RESULT_OK && c.result != VSTOR_RESULT_NO_DEVICE && c.result != VSTOR_RESULT_ABORTED)
                fail();
            if (c.sense_length > VSTOR_BRIDGE_MAX_SENSE || out_in > out_len) fail();
            // The driver may reuse a tag while a request with it runs: any of them may be the one.
            auto [it, end] = expected_.equal_range(c.tag);
            const auto fits = [&](const auto& e) {
                const vstor_bridge_request& r = e.second;
                const std::uint32_t data_in = r.direction == VSTOR_DIR_IN ? c.data_length : 0;
                return c.data_length <= r.data_length && out_in == kInData + data_in;
            };
            it = std::find_if(it, end, fits);
            if (it == end) fail();  // answered twice, never asked, or not the request's shape
            expected_.erase(it);
        }
        // Nothing else queued (NO_WAIT).
        if (out_len < kOutData) fail();
        std::memset(out, 0, kOutData);
        return {0, kOutData};
    }

    mutable std::mutex mu_;
    std::deque<std::vector<std::uint8_t>> outputs_;
    std::multimap<std::uint64_t, vstor_bridge_request> expected_;
    std::uint64_t malformed_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Engine engine;
    std::deque<std::vector<std::uint8_t>> outputs;
    std::size_t pos = 0;
    while (pos + 2 <= size) {
        const std::size_t len = std::min<std::size_t>(data[pos] | (data[pos + 1] << 8), size - pos - 2);
        outputs.emplace_back(data + pos + 2, data + pos + 2 + len);
        pos += 2 + len;
    }
    FakeDriver driver(std::move(outputs));
    vstor::bridge::ServiceOptions opts;
    opts.threads = 1;  // one dispatcher takes the outputs in order
    opts.completers = 1;
    opts.hold_liveness_irp = false;
    vstor::bridge::Service service(*engine.adapter, driver, opts);
    if (!service.start()) fail();
    service.join();  // the dispatcher ends when the script does
    driver.check_done(service.stats().bad_requests);
    return 0;
}
