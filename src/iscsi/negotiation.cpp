#include "iscsi/negotiation.hpp"

#include <algorithm>
#include <set>
#include <sstream>
#include <string_view>

namespace vstor::iscsi {

namespace {

std::vector<std::string> split_list(const std::string& v) {
    std::vector<std::string> items;
    std::stringstream ss(v);
    std::string item;
    while (std::getline(ss, item, ',')) items.push_back(item);
    return items;
}

bool parse_bool(const std::string& v, bool& out) {
    if (v == "Yes") return out = true, true;
    if (v == "No") return out = false, true;
    return false;
}

const char* yes_no(bool b) { return b ? "Yes" : "No"; }

enum class Kind { bool_or, bool_and, num_min, num_max, digest, declarative, auth, irrelevant_key };

struct KeyRule {
    const char* name;
    Kind kind;
    std::uint64_t lo, hi;  // valid numeric range
    bool leading_only;     // only in the leading login / not in discovery
    std::uint64_t mine;    // the target's own value (booleans: 1 = Yes)
    // Where the result goes (at most one is set; markers and declarative keys have none).
    std::uint32_t SessionParams::*number;
    bool SessionParams::*flag;
};

// RFC 7143 13: key, result function, valid range, the value this target offers.
// Booleans: InitialR2T=No (OR -> the initiator's value), ImmediateData=Yes (AND -> the
// initiator's value), DataPDUInOrder/DataSequenceInOrder=Yes (OR -> Yes).
const KeyRule kRules[] = {
    {"HeaderDigest", Kind::digest, 0, 0, false, 0, nullptr, &SessionParams::header_digest},
    {"DataDigest", Kind::digest, 0, 0, false, 0, nullptr, &SessionParams::data_digest},
    {"MaxConnections", Kind::num_min, 1, 65535, true, TargetLimits::max_connections, &SessionParams::max_connections,
     nullptr},
    {"InitialR2T", Kind::bool_or, 0, 0, true, 0, nullptr, &SessionParams::initial_r2t},
    {"ImmediateData", Kind::bool_and, 0, 0, true, 1, nullptr, &SessionParams::immediate_data},
    {"MaxRecvDataSegmentLength", Kind::declarative, 512, 16777215, false, 0, nullptr, nullptr},
    {"MaxBurstLength", Kind::num_min, 512, 16777215, true, TargetLimits::max_burst_length,
     &SessionParams::max_burst_length, nullptr},
    {"FirstBurstLength", Kind::num_min, 512, 16777215, true, TargetLimits::first_burst_length,
     &SessionParams::first_burst_length, nullptr},
    {"DefaultTime2Wait", Kind::num_max, 0, 3600, true, 2, &SessionParams::default_time2wait, nullptr},
    {"DefaultTime2Retain", Kind::num_min, 0, 3600, true, 20, &SessionParams::default_time2retain, nullptr},
    {"MaxOutstandingR2T", Kind::num_min, 1, 65535, true, TargetLimits::max_outstanding_r2t,
     &SessionParams::max_outstanding_r2t, nullptr},
    {"DataPDUInOrder", Kind::bool_or, 0, 0, true, 1, nullptr, &SessionParams::data_pdu_in_order},
    {"DataSequenceInOrder", Kind::bool_or, 0, 0, true, 1, nullptr, &SessionParams::data_sequence_in_order},
    {"ErrorRecoveryLevel", Kind::num_min, 0, 2, true, 0, &SessionParams::error_recovery_level, nullptr},
    {"InitiatorName", Kind::declarative, 0, 0, false, 0, nullptr, nullptr},
    {"InitiatorAlias", Kind::declarative, 0, 0, false, 0, nullptr, nullptr},
    {"TargetName", Kind::declarative, 0, 0, false, 0, nullptr, nullptr},
    {"SessionType", Kind::declarative, 0, 0, false, 0, nullptr, nullptr},
    {"AuthMethod", Kind::auth, 0, 0, false, 0, nullptr, nullptr},
    // RFC 7143 dropped markers; older initiators still send them: answer with the only value.
    {"IFMarker", Kind::bool_and, 0, 0, false, 0, nullptr, nullptr},
    {"OFMarker", Kind::bool_and, 0, 0, false, 0, nullptr, nullptr},
    {"IFMarkInt", Kind::irrelevant_key, 0, 0, false, 0, nullptr, nullptr},
    {"OFMarkInt", Kind::irrelevant_key, 0, 0, false, 0, nullptr, nullptr},
};

const KeyRule* find_rule(const std::string& key) {
    for (const auto& r : kRules)
        if (key == r.name) return &r;
    return nullptr;
}

// Declarative keys: the initiator states a value, the target takes it (MaxRecvDataSegmentLength
// is declared by both sides). Returns an error that ends the login, else "".
std::string take_declarative(const KeyRule& rule, const std::string& value, KeyValues& out, SessionParams& p,
                             LoginKeys& keys) {
    const std::string key = rule.name;
    if (key == "InitiatorName") {
        if (value.empty()) return "empty InitiatorName";
        keys.initiator_name = value;
    } else if (key == "InitiatorAlias") {
        keys.initiator_alias = value;
    } else if (key == "TargetName") {
        keys.target_name = value;
    } else if (key == "SessionType") {
        if (value == "Normal") keys.session_type = SessionType::normal;
        else if (value == "Discovery") keys.session_type = SessionType::discovery;
        else {
            out.emplace_back(key, "Reject");
            return {};
        }
        keys.session_type_seen = true;
    } else if (key == "MaxRecvDataSegmentLength") {
        auto n = parse_number(value);
        if (!n || *n < rule.lo || *n > rule.hi) {
            out.emplace_back(key, "Reject");
            return {};
        }
        p.max_recv_data_segment_length_initiator = static_cast<std::uint32_t>(*n);
        // Declarative in each direction: the target states its own value.
        out.emplace_back(key, std::to_string(p.max_recv_data_segment_length_target));
    }
    return {};
}

// Keys with no meaning here: marker intervals, and session keys in a discovery session (apart
// from MaxConnections and ErrorRecoveryLevel, which apply to it too).
bool irrelevant(const KeyRule& rule, bool discovery) {
    if (rule.kind == Kind::irrelevant_key) return true;
    const std::string_view key = rule.name;
    return rule.leading_only && discovery && key != "MaxConnections" && key != "ErrorRecoveryLevel";
}

// Digests: the first of the initiator's list this target supports.
std::string negotiate_digest(const KeyRule& rule, const std::string& value, SessionParams& p) {
    for (const auto& v : split_list(value)) {
        if (v == "None" || v == "CRC32C") {
            p.*rule.flag = v == "CRC32C";
            return v;
        }
    }
    return "Reject";
}

std::string negotiate_bool(const KeyRule& rule, const std::string& value, SessionParams& p) {
    bool b;
    if (!parse_bool(value, b)) return "Reject";
    const bool mine = rule.mine != 0;
    const bool result = rule.kind == Kind::bool_or ? (b || mine) : (b && mine);
    if (rule.flag) p.*rule.flag = result;
    return yes_no(result);
}

std::string negotiate_number(const KeyRule& rule, const std::string& value, SessionParams& p) {
    auto n = parse_number(value);
    if (!n || *n < rule.lo || *n > rule.hi) return "Reject";
    const std::uint64_t result = rule.kind == Kind::num_min ? std::min(*n, rule.mine) : std::max(*n, rule.mine);
    p.*rule.number = static_cast<std::uint32_t>(result);
    return std::to_string(result);
}

// The answer to one negotiated (not declarative) key, "" for none (authentication keys).
std::string negotiate_value(const KeyRule& rule, const std::string& value, SessionParams& p) {
    switch (rule.kind) {
        case Kind::digest: return negotiate_digest(rule, value, p);
        case Kind::bool_or:
        case Kind::bool_and: return negotiate_bool(rule, value, p);
        case Kind::num_min:
        case Kind::num_max: return negotiate_number(rule, value, p);
        default: return {};
    }
}

}  // namespace

bool is_auth_key(const std::string& key) {
    return key == "AuthMethod" || key.rfind("CHAP_", 0) == 0;
}

std::string negotiate_keys(const KeyValues& in, KeyValues& out, SessionParams& p, LoginKeys& keys,
                           bool operational_stage) {
    (void)operational_stage;
    std::set<std::string> seen;
    // The session type as it was when this request arrived (a SessionType in it counts from the next).
    const bool discovery = keys.session_type == SessionType::discovery;
    for (const auto& [key, value] : in) {
        if (is_auth_key(key)) continue;
        if (!seen.insert(key).second) return "key sent twice in one request: " + key;
        const KeyRule* rule = find_rule(key);
        if (!rule) {
            out.emplace_back(key, "NotUnderstood");
            continue;
        }
        if (rule->kind == Kind::declarative) {
            if (auto err = take_declarative(*rule, value, out, p, keys); !err.empty()) return err;
            continue;
        }
        if (irrelevant(*rule, discovery)) {
            out.emplace_back(key, "Irrelevant");
            continue;
        }
        if (auto answer = negotiate_value(*rule, value, p); !answer.empty()) out.emplace_back(key, std::move(answer));
    }
    // FirstBurstLength may not exceed MaxBurstLength (RFC 7143 13.14).
    p.first_burst_length = std::min(p.first_burst_length, p.max_burst_length);
    return {};
}

}  // namespace vstor::iscsi
