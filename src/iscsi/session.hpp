// An iSCSI session: its I_T nexus, negotiated parameters, the CmdSN window shared by its
// connections (MC/S). The sessions of a server are in session_registry.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "iscsi/negotiation.hpp"
#include "iscsi/server.hpp"
#include "iscsi/session_params.hpp"
#include "util/write_budget.hpp"

namespace vstor::iscsi {

class Connection;

class Session {
public:
    Session(std::uint16_t tsih, const std::uint8_t* isid, LoginKeys keys, TargetPtr target,
            SessionParams params, std::shared_ptr<Nexus> nexus, std::uint32_t exp_cmdsn,
            std::shared_ptr<util::WriteBudget::Account> writes = nullptr);

    std::uint16_t tsih() const { return tsih_; }
    const std::uint8_t* isid() const { return isid_; }
    const LoginKeys& keys() const { return keys_; }
    const TargetConfig* target() const { return target_.get(); }
    const SessionParams& params() const { return params_; }
    const std::shared_ptr<Nexus>& nexus() const { return nexus_; }
    bool discovery() const { return keys_.session_type == SessionType::discovery; }
    std::string isid_hex() const;

    // CmdSN window (RFC 7143 4.2.2.1). Returns false for a non-immediate command outside the
    // window (it is dropped): beyond the highest MaxCmdSN sent. Immediate commands do not
    // consume a CmdSN.
    bool accept_cmdsn(std::uint32_t cmdsn, bool immediate);
    std::uint32_t exp_cmdsn() const;
    // The MaxCmdSN to send now. The window opens as commands finish, but no further than the
    // write buffer budget allows: while it is used up (or a write waits for it) MaxCmdSN stops
    // advancing, so that the unsolicited data new commands may bring stays bounded.
    std::uint32_t max_cmdsn() const;
    std::uint32_t window_end() const;  // the highest MaxCmdSN sent so far
    void task_started();
    void task_finished();

    void add_connection(const std::shared_ptr<Connection>& c);
    void remove_connection(const Connection* c);
    std::vector<std::shared_ptr<Connection>> connections() const;
    std::size_t connection_count() const;

    // Counters for `vstor ctl status/stats` (updated by the session's connections).
    struct Stats {
        std::atomic<std::uint64_t> commands{0}, bytes_in{0}, bytes_out{0}, errors{0};
    } stats;

    // The session's share of the write buffer budget (null: no budget, in tests).
    const std::shared_ptr<util::WriteBudget::Account>& write_account() const { return writes_; }
    // Most data a command may bring before the target can refuse it: immediate data, or the first
    // burst of unsolicited Data-Out with InitialR2T=No.
    std::uint32_t unsolicited_per_command() const;

    // Is `lun` visible to this session's initiator (LUN masking)?
    bool lun_visible(std::uint16_t lun) const;

private:
    const std::uint16_t tsih_;
    std::uint8_t isid_[6];
    const LoginKeys keys_;
    const TargetPtr target_;  // the configuration it logged in with
    const SessionParams params_;
    const std::shared_ptr<Nexus> nexus_;

    mutable std::mutex mu_;  // guards the window and the connection list
    std::uint32_t exp_cmdsn_;
    std::set<std::uint32_t> ahead_;  // CmdSNs received beyond exp_cmdsn_ (MC/S reordering)
    std::uint32_t in_flight_ = 0;
    mutable std::uint32_t advertised_max_;  // highest MaxCmdSN sent: the window commands may use
    const std::shared_ptr<util::WriteBudget::Account> writes_;
    std::vector<std::weak_ptr<Connection>> connections_;
};

// Serial number arithmetic (RFC 1982) for 32-bit sequence numbers.
inline bool sn_lt(std::uint32_t a, std::uint32_t b) {
    return a != b && static_cast<std::int32_t>(a - b) < 0;
}

}  // namespace vstor::iscsi
