// The login phase of one connection as an explicit state machine (RFC 7143 6.3, 11.12-11.13):
// security negotiation (None or CHAP), operational negotiation, then the move to full feature
// phase. It never touches sockets: the connection feeds it login PDUs and sends what it returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "iscsi/negotiation.hpp"
#include "iscsi/pdu.hpp"
#include "iscsi/server.hpp"

namespace vstor::iscsi {

// Login status class/detail (RFC 7143 11.13.5).
namespace login_status {
inline constexpr std::uint16_t success = 0x0000;
inline constexpr std::uint16_t initiator_error = 0x0200;
inline constexpr std::uint16_t authentication_failure = 0x0201;
inline constexpr std::uint16_t authorization_failure = 0x0202;
inline constexpr std::uint16_t not_found = 0x0203;
inline constexpr std::uint16_t unsupported_version = 0x0205;
inline constexpr std::uint16_t too_many_connections = 0x0206;
inline constexpr std::uint16_t missing_parameter = 0x0207;
inline constexpr std::uint16_t cant_include_in_session = 0x0208;
inline constexpr std::uint16_t session_type_not_supported = 0x0209;
inline constexpr std::uint16_t session_does_not_exist = 0x020a;
inline constexpr std::uint16_t invalid_during_login = 0x020b;
inline constexpr std::uint16_t target_error = 0x0300;
inline constexpr std::uint16_t out_of_resources = 0x0302;
}  // namespace login_status

class Login {
public:
    enum class Stage : std::uint8_t { security = 0, operational = 1, full_feature = 3 };
    enum class Outcome {
        respond,         // send `response`, wait for the next login PDU
        fail,            // send `response` (an error status) and close the connection
        ready_to_bind,   // negotiation done: bind the session, then call finish()
    };
    // Whether this PDU carried a CHAP response and how it checked out: the connection throttles
    // and counts failures (AuthThrottle) before it sends the answer.
    enum class ChapCheck { none, passed, failed };
    struct Step {
        Outcome outcome;
        Pdu response;
        ChapCheck chap = ChapCheck::none;
    };

    // `discovery_chap`: what a discovery session must authenticate with (empty = nothing), as it
    // was when the login started.
    Login(ChapCredentials discovery_chap, std::shared_ptr<const TargetList> targets, std::uint16_t portal_group_tag);
    Login(const ServerConfig& config, std::shared_ptr<const TargetList> targets, std::uint16_t portal_group_tag)
        : Login(config.discovery_chap, std::move(targets), portal_group_tag) {}

    Step on_pdu(const Pdu& req);
    // Final response once the session is bound (status success, or e.g. session_does_not_exist).
    Pdu finish(std::uint16_t tsih, std::uint16_t status);

    const LoginKeys& keys() const { return keys_; }
    const SessionParams& params() const { return params_; }
    const TargetPtr& target() const { return target_; }
    const std::uint8_t* isid() const { return isid_; }
    std::uint16_t requested_tsih() const { return tsih_; }
    std::uint16_t cid() const { return cid_; }
    std::uint32_t initial_cmdsn() const { return cmdsn_; }
    std::uint32_t next_statsn() const { return statsn_; }
    // Why the last `fail` outcome happened, when there is more to say than the status ("" if not).
    const std::string& failure_reason() const { return failure_; }

private:
    Step step(const Pdu& req);
    Step fail(std::uint16_t status);
    Pdu make_response(bool transit, Stage csg, Stage nsg, std::uint16_t status);
    std::string authenticate(const KeyValues& in, KeyValues& out, bool& done);
    const ChapCredentials* required_chap() const;

    enum class AuthState { start, wait_chap_a, wait_chap_response, done };

    const ChapCredentials discovery_chap_;
    const std::shared_ptr<const TargetList> targets_;  // as they were when the login started
    const std::uint16_t tpgt_;
    LoginKeys keys_;
    SessionParams params_;
    TargetPtr target_;
    AuthState auth_ = AuthState::start;
    bool use_chap_ = false;
    std::uint8_t chap_id_ = 0;
    std::vector<std::uint8_t> chap_challenge_;
    std::vector<std::uint8_t> pending_text_;  // text continued over several PDUs (C bit)
    bool first_pdu_ = true;
    bool tpgt_sent_ = false;
    Stage csg_ = Stage::security;
    std::uint8_t isid_[6] = {};
    std::uint16_t tsih_ = 0;
    std::uint16_t cid_ = 0;
    std::uint32_t itt_ = 0;
    std::uint32_t cmdsn_ = 0;
    std::uint32_t statsn_ = 0;
    Stage final_nsg_ = Stage::full_feature;
    Pdu pending_response_;
    std::string failure_;
    ChapCheck chap_check_ = ChapCheck::none;  // of the PDU being handled
};

}  // namespace vstor::iscsi
