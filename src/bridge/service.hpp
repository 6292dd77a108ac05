// The StorPort service side of vstor: takes requests from vstor.sys over the bridge channel
// (windows/common/vstor_bridge.h), runs them through the engine's Adapter::submit and returns the
// completions. The same code serves Windows (a DeviceIoControl channel) and the Linux StorPort
// emulator (an in-process channel); it never interprets a CDB.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "vstor/adapter.hpp"

namespace vstor::bridge {

struct IoctlResult {
    std::int32_t status = 0;  // NTSTATUS
    std::uint32_t information = 0;
};

// One DeviceIoControl(IOCTL_MINIPORT_PROCESS_SERVICE_IRP) on the adapter: `buf` holds `in_len`
// bytes of input and has room for `out_len` bytes of output. May block (the driver parks the IRP).
// Called from several threads at once.
class Channel {
public:
    virtual ~Channel() = default;
    virtual IoctlResult ioctl(void* buf, std::uint32_t in_len, std::uint32_t out_len) = 0;
};

struct ServiceOptions {
    unsigned threads = 8;  // dispatcher threads, each with one IRP in the driver at a time
    std::string initiator_port = "vstor-storport";
    // Keep a VSTOR_OP_HOLD IRP in the driver from a thread that lives as long as the service: if
    // the process dies the driver learns it at once, and a slow request is never taken for death.
    bool hold_liveness_irp = true;
};

struct ServiceStats {
    std::atomic<std::uint64_t> commands{0};
    std::atomic<std::uint64_t> bus_resets{0};
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
    // Tell the driver a LUN appeared or went away (it raises BusChangeDetected).
    Status announce(std::uint16_t target_id, std::uint16_t lun, bool present);
    // DISCONNECT (every outstanding SRB fails at once) and join the threads.
    void stop();
    // Join the threads after the driver ended the session (shutdown, killed channel).
    void join();

    const ServiceStats& stats() const { return stats_; }
    std::uint32_t session() const { return session_; }

private:
    void dispatcher();
    std::shared_ptr<Nexus> nexus_for(std::uint16_t target_id);

    Adapter& adapter_;
    Channel& channel_;
    ServiceOptions opts_;
    std::uint32_t session_ = 0;
    std::atomic<bool> stopping_{false};
    std::vector<std::thread> threads_;
    std::thread liveness_;
    std::mutex nexus_mu_;  // guards nexuses_
    std::map<std::uint16_t, std::shared_ptr<Nexus>> nexuses_;
    ServiceStats stats_;
};

}  // namespace vstor::bridge
