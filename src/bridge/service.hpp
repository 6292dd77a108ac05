// The StorPort service side of vstor: takes requests from vstor.sys over the bridge channel
// (include/vstor/bridge_protocol.h), runs them through the engine's Adapter::submit and returns the
// completions. The same code serves Windows (a DeviceIoControl channel) and the Linux StorPort
// emulator (an in-process channel); it never interprets a CDB.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vstor/adapter.hpp"
#include "vstor/bridge_protocol.h"

namespace vstor::bridge {

struct IoctlResult {
    std::int32_t status = 0;  // NTSTATUS
    std::uint32_t information = 0;
};
// STATUS_UNSUCCESSFUL: what a channel answers when the call did not reach the driver.
inline constexpr std::int32_t kStatusUnsuccessful = static_cast<std::int32_t>(0xC0000001u);

// One DeviceIoControl(VSTOR_BRIDGE_IOCTL) on the adapter: `in_len` bytes of input, and the output
// buffer `out`, `out_len` bytes (METHOD_OUT_DIRECT: the driver reads and writes it in place through
// its MDL; the two may be the same buffer). `out_in`: how many leading bytes of `out` the driver
// reads (a completion's data-in ends there): a transport that carries the call elsewhere (TCP) sends
// them; DeviceIoControl maps the whole buffer anyway. May block (the driver parks the IRP). Called
// from several threads at once.
class Channel {
public:
    virtual ~Channel() = default;
    virtual IoctlResult ioctl(const void* in, std::uint32_t in_len, void* out, std::uint32_t out_len,
                              std::uint32_t out_in) = 0;
    IoctlResult ioctl(void* buf, std::uint32_t in_len, std::uint32_t out_len) { return ioctl(buf, in_len, buf, out_len, 0); }
};

// Threads: `threads` dispatchers each keep one TRANSACT parked in the driver and hand what they get
// to the engine without waiting for it; `completers` send the engine's completions back (TRANSACT
// with NO_WAIT, so they never park, and submit whatever request comes back with the answer). No
// thread ever waits on the engine, so one slow or hung LUN cannot starve the others.
struct ServiceOptions {
    unsigned threads = 8;     // dispatcher threads
    unsigned completers = 2;  // completion senders
    std::string initiator_port = "vstor-storport";
    // Keep a VSTOR_OP_HOLD IRP in the driver from a thread that lives as long as the service: if
    // the process dies the driver learns it at once, and a slow request is never taken for death.
    bool hold_liveness_irp = true;
};

struct ServiceStats {
    std::atomic<std::uint64_t> commands{0};
    std::atomic<std::uint64_t> in_flight{0};  // submitted to the engine, completion not yet sent
    std::atomic<std::uint64_t> bus_resets{0};  // resets the engine has finished (UNIT ATTENTION set)
    std::atomic<std::uint64_t> lun_resets{0};
    std::atomic<std::uint64_t> bad_requests{0};  // malformed output from the driver
};

class Service {
public:
    Service(Adapter& adapter, Channel& channel, ServiceOptions opts = {});
    ~Service();
    Service(const Service&) = delete;
    Service& operator=(const Service&) = delete;

    // CONNECT, announce every LUN of the adapter's targets (target id < 8, LUN < 8), start the
    // dispatcher threads. The adapter's target ids are the StorPort TargetIds.
    Status start();
    // Tell the driver a LUN appeared or went away (it raises BusChangeDetected). LUNs added to or
    // removed from the adapter while the service runs (e.g. by `vstor ctl`) are announced
    // automatically: the service subscribes to the adapter's LUN events.
    Status announce(std::uint16_t target_id, std::uint16_t lun, bool present);
    // DISCONNECT (every outstanding SRB fails at once) and join the threads.
    void stop();
    // Join the threads after the driver ended the session (shutdown, killed channel).
    void join();

    const ServiceStats& stats() const { return stats_; }
    std::uint32_t session() const { return session_; }

private:
    struct Pending;  // one request in the engine: its own buffer, sized to it
    void dispatcher();
    void completer();
    // Acts on what the driver returned in `buf` (`info` bytes): runs a request or a notice.
    // Returns false when the session is over.
    bool handle(const std::uint8_t* buf, std::uint32_t info);
    void submit(const std::uint8_t* buf, std::uint32_t info, const vstor_bridge_request& req);
    void finished(std::unique_ptr<Pending> p);
    void on_lun_event(const LunEvent& e);
    std::shared_ptr<Nexus> nexus_for(std::uint16_t target_id);

    Adapter& adapter_;
    Channel& channel_;
    ServiceOptions opts_;
    std::uint32_t session_ = 0;
    // Announces LUNs added to or removed from the adapter while a session runs: from start()
    // until stop() or the destructor.
    LunSubscription lun_events_;
    std::atomic<bool> stopping_{false};
    std::vector<std::thread> threads_;
    std::vector<std::thread> completers_;
    std::thread liveness_;
    std::mutex done_mu_;  // guards done_ and in_flight changes the joiner waits on
    std::condition_variable done_cv_;
    std::deque<std::unique_ptr<Pending>> done_;  // completions waiting for a completer, oldest first
    bool completers_stop_ = false;  // set once no dispatcher can submit any more
    std::mutex nexus_mu_;  // guards nexuses_
    std::map<std::uint16_t, std::shared_ptr<Nexus>> nexuses_;
    ServiceStats stats_;
};

}  // namespace vstor::bridge
