// An iSCSI session: its I_T nexus, negotiated parameters, the CmdSN window shared by its
// connections (MC/S), and the registry that finds sessions for reinstatement and MC/S logins.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "iscsi/negotiation.hpp"
#include "iscsi/server.hpp"
#include "iscsi/session_params.hpp"

namespace vstor::iscsi {

class Connection;

class Session {
public:
    Session(std::uint16_t tsih, const std::uint8_t* isid, LoginKeys keys, TargetPtr target,
            SessionParams params, std::shared_ptr<Nexus> nexus, std::uint32_t exp_cmdsn);

    std::uint16_t tsih() const { return tsih_; }
    const std::uint8_t* isid() const { return isid_; }
    const LoginKeys& keys() const { return keys_; }
    const TargetConfig* target() const { return target_.get(); }
    const SessionParams& params() const { return params_; }
    const std::shared_ptr<Nexus>& nexus() const { return nexus_; }
    bool discovery() const { return keys_.session_type == SessionType::discovery; }
    std::string isid_hex() const;

    // CmdSN window (RFC 7143 4.2.2.1). Returns false for a non-immediate command outside the
    // window (it is dropped). Immediate commands do not consume a CmdSN.
    bool accept_cmdsn(std::uint32_t cmdsn, bool immediate);
    std::uint32_t exp_cmdsn() const;
    std::uint32_t max_cmdsn() const;
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
    std::vector<std::weak_ptr<Connection>> connections_;
};

class SessionRegistry {
public:
    std::uint16_t allocate_tsih();
    void add(const std::shared_ptr<Session>& s);
    void remove(const Session* s);
    std::shared_ptr<Session> find(std::uint16_t tsih) const;
    // Session of the same initiator port (InitiatorName + ISID) to the same target.
    std::shared_ptr<Session> find_same_nexus(const std::string& initiator, const std::uint8_t* isid,
                                             const TargetConfig* target) const;
    std::vector<std::shared_ptr<Session>> all() const;

private:
    mutable std::mutex mu_;  // guards both members
    std::map<std::uint16_t, std::shared_ptr<Session>> sessions_;
    std::uint16_t next_tsih_ = 1;
};

// Serial number arithmetic (RFC 1982) for 32-bit sequence numbers.
inline bool sn_lt(std::uint32_t a, std::uint32_t b) {
    return a != b && static_cast<std::int32_t>(a - b) < 0;
}

}  // namespace vstor::iscsi
