// Operational and security key negotiation (RFC 7143 6 and 13, RFC 7144 key semantics).
// Pure functions over key lists so the login code and the fuzzer can drive them without sockets.
#pragma once

#include <string>

#include "iscsi/session_params.hpp"
#include "iscsi/text_keys.hpp"

namespace vstor::iscsi {

enum class SessionType { normal, discovery };

struct LoginKeys {  // declarative keys learned during login
    std::string initiator_name;
    std::string initiator_alias;
    std::string target_name;
    SessionType session_type = SessionType::normal;
    bool session_type_seen = false;
};

// Negotiates every key in `in` that is not an authentication key, appending answers to `out`
// and updating `params`/`keys`. Unknown keys get NotUnderstood, keys that do not apply to the
// session type get Irrelevant, bad values get Reject. Returns an error message only for a
// failure that ends the login (e.g. a key repeated, a declarative key changing), else "".
std::string negotiate_keys(const KeyValues& in, KeyValues& out, SessionParams& params, LoginKeys& keys,
                           bool operational_stage);

bool is_auth_key(const std::string& key);

}  // namespace vstor::iscsi
