// The sessions of one server by TSIH, and the rules that match a login to them (RFC 7143 6.3.5):
// a leading login (TSIH 0) from an initiator port (InitiatorName + ISID) that already has a
// session with the same target reinstates it: the old session ends. A login naming a TSIH adds a
// connection to that session (MC/S); one with the CID of a live connection replaces it
// (connection reinstatement, done by the caller).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "iscsi/server.hpp"

namespace vstor::iscsi {

class Session;

// What a login says about who it is: all the registry matches sessions by.
struct LoginIdentity {
    std::uint16_t tsih = 0;  // 0: a leading login, asking for a new session
    std::array<std::uint8_t, 6> isid{};
    std::uint16_t cid = 0;
    std::string initiator_name;
    const TargetConfig* target = nullptr;  // null for a discovery session
};

class SessionRegistry {
public:
    // Leading login: the session the same initiator port has with the same target, which the
    // new session reinstates. It leaves the registry here; the caller closes its connections.
    // Null when there is none.
    std::shared_ptr<Session> take_for_reinstatement(const LoginIdentity& who);

    // A login naming a TSIH joins that session. Refused (null session, a login status) with
    // session_does_not_exist when no session has that TSIH for this initiator port, and with
    // too_many_connections when the session holds MaxConnections already, even when the login
    // would replace one of them.
    struct Join {
        std::shared_ptr<Session> session;
        std::uint16_t status = 0;  // login_status::success when `session` is set
    };
    Join join(const LoginIdentity& who) const;

    // A TSIH no registered session has, never 0.
    std::uint16_t allocate_tsih();
    void add(const std::shared_ptr<Session>& s);
    // Removes `s` if it is still the session registered under its TSIH.
    void remove(const Session* s);
    std::shared_ptr<Session> find(std::uint16_t tsih) const;
    // The sessions an initiator (by name, any ISID) has with `target`.
    std::vector<std::shared_ptr<Session>> of_initiator(const std::string& name, const TargetConfig* target) const;
    std::vector<std::shared_ptr<Session>> all() const;

private:
    mutable std::mutex mu_;  // guards both members
    std::map<std::uint16_t, std::shared_ptr<Session>> sessions_;
    std::uint16_t next_tsih_ = 1;
};

}  // namespace vstor::iscsi
