#include "iscsi/negotiation.hpp"

#include <algorithm>
#include <set>
#include <sstream>

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
};

// RFC 7143 13: key, result function, valid range.
const KeyRule kRules[] = {
    {"HeaderDigest", Kind::digest, 0, 0, false},
    {"DataDigest", Kind::digest, 0, 0, false},
    {"MaxConnections", Kind::num_min, 1, 65535, true},
    {"InitialR2T", Kind::bool_or, 0, 0, true},
    {"ImmediateData", Kind::bool_and, 0, 0, true},
    {"MaxRecvDataSegmentLength", Kind::declarative, 512, 16777215, false},
    {"MaxBurstLength", Kind::num_min, 512, 16777215, true},
    {"FirstBurstLength", Kind::num_min, 512, 16777215, true},
    {"DefaultTime2Wait", Kind::num_max, 0, 3600, true},
    {"DefaultTime2Retain", Kind::num_min, 0, 3600, true},
    {"MaxOutstandingR2T", Kind::num_min, 1, 65535, true},
    {"DataPDUInOrder", Kind::bool_or, 0, 0, true},
    {"DataSequenceInOrder", Kind::bool_or, 0, 0, true},
    {"ErrorRecoveryLevel", Kind::num_min, 0, 2, true},
    {"InitiatorName", Kind::declarative, 0, 0, false},
    {"InitiatorAlias", Kind::declarative, 0, 0, false},
    {"TargetName", Kind::declarative, 0, 0, false},
    {"SessionType", Kind::declarative, 0, 0, false},
    {"AuthMethod", Kind::auth, 0, 0, false},
    // RFC 7143 dropped markers; older initiators still send them: answer with the only value.
    {"IFMarker", Kind::bool_and, 0, 0, false},
    {"OFMarker", Kind::bool_and, 0, 0, false},
    {"IFMarkInt", Kind::irrelevant_key, 0, 0, false},
    {"OFMarkInt", Kind::irrelevant_key, 0, 0, false},
};

const KeyRule* find_rule(const std::string& key) {
    for (const auto& r : kRules)
        if (key == r.name) return &r;
    return nullptr;
}

}  // namespace

bool is_auth_key(const std::string& key) {
    return key == "AuthMethod" || key.rfind("CHAP_", 0) == 0;
}

std::string negotiate_keys(const KeyValues& in, KeyValues& out, SessionParams& p, LoginKeys& keys,
                           bool operational_stage) {
    std::set<std::string> seen;
    const bool discovery = keys.session_type == SessionType::discovery;
    for (const auto& [key, value] : in) {
        if (is_auth_key(key)) continue;
        if (!seen.insert(key).second) return "key sent twice in one request: " + key;
        const KeyRule* rule = find_rule(key);
        if (!rule) {
            out.emplace_back(key, "NotUnderstood");
            continue;
        }
        if (key == "InitiatorName") {
            if (value.empty()) return "empty InitiatorName";
            keys.initiator_name = value;
            continue;
        }
        if (key == "InitiatorAlias") {
            keys.initiator_alias = value;
            continue;
        }
        if (key == "TargetName") {
            keys.target_name = value;
            continue;
        }
        if (key == "SessionType") {
            if (value == "Normal") keys.session_type = SessionType::normal;
            else if (value == "Discovery") keys.session_type = SessionType::discovery;
            else {
                out.emplace_back(key, "Reject");
                continue;
            }
            keys.session_type_seen = true;
            continue;
        }
        if (key == "MaxRecvDataSegmentLength") {
            auto n = parse_number(value);
            if (!n || *n < rule->lo || *n > rule->hi) {
                out.emplace_back(key, "Reject");
                continue;
            }
            p.max_recv_data_segment_length_initiator = static_cast<std::uint32_t>(*n);
            // Declarative in each direction: the target states its own value.
            out.emplace_back(key, std::to_string(p.max_recv_data_segment_length_target));
            continue;
        }
        if (rule->kind == Kind::irrelevant_key) {
            out.emplace_back(key, "Irrelevant");
            continue;
        }
        if (rule->leading_only && discovery && key != "MaxConnections" && key != "ErrorRecoveryLevel") {
            out.emplace_back(key, "Irrelevant");
            continue;
        }
        (void)operational_stage;
        switch (rule->kind) {
            case Kind::digest: {
                std::string chosen;
                for (const auto& v : split_list(value)) {
                    if (v == "None" || v == "CRC32C") {
                        chosen = v;
                        break;
                    }
                }
                if (chosen.empty()) {
                    out.emplace_back(key, "Reject");
                    break;
                }
                (key == "HeaderDigest" ? p.header_digest : p.data_digest) = chosen == "CRC32C";
                out.emplace_back(key, chosen);
                break;
            }
            case Kind::bool_or:
            case Kind::bool_and: {
                bool b;
                if (!parse_bool(value, b)) {
                    out.emplace_back(key, "Reject");
                    break;
                }
                if (key == "IFMarker" || key == "OFMarker") {
                    out.emplace_back(key, "No");
                    break;
                }
                // Target preferences: InitialR2T=No (OR -> initiator's value), ImmediateData=Yes
                // (AND -> initiator's value), DataPDUInOrder/DataSequenceInOrder=Yes (OR -> Yes).
                bool result = b;
                if (key == "DataPDUInOrder" || key == "DataSequenceInOrder") result = true;
                if (key == "InitialR2T") p.initial_r2t = result;
                if (key == "ImmediateData") p.immediate_data = result;
                if (key == "DataPDUInOrder") p.data_pdu_in_order = result;
                if (key == "DataSequenceInOrder") p.data_sequence_in_order = result;
                out.emplace_back(key, yes_no(result));
                break;
            }
            case Kind::num_min:
            case Kind::num_max: {
                auto n = parse_number(value);
                if (!n || *n < rule->lo || *n > rule->hi) {
                    out.emplace_back(key, "Reject");
                    break;
                }
                std::uint64_t mine = 0;
                if (key == "MaxConnections") mine = TargetLimits::max_connections;
                else if (key == "MaxBurstLength") mine = TargetLimits::max_burst_length;
                else if (key == "FirstBurstLength") mine = TargetLimits::first_burst_length;
                else if (key == "DefaultTime2Wait") mine = 2;
                else if (key == "DefaultTime2Retain") mine = 20;
                else if (key == "MaxOutstandingR2T") mine = TargetLimits::max_outstanding_r2t;
                else if (key == "ErrorRecoveryLevel") mine = 0;
                const std::uint64_t result = rule->kind == Kind::num_min ? std::min(*n, mine) : std::max(*n, mine);
                const auto r32 = static_cast<std::uint32_t>(result);
                if (key == "MaxConnections") p.max_connections = r32;
                else if (key == "MaxBurstLength") p.max_burst_length = r32;
                else if (key == "FirstBurstLength") p.first_burst_length = r32;
                else if (key == "DefaultTime2Wait") p.default_time2wait = r32;
                else if (key == "DefaultTime2Retain") p.default_time2retain = r32;
                else if (key == "MaxOutstandingR2T") p.max_outstanding_r2t = r32;
                else if (key == "ErrorRecoveryLevel") p.error_recovery_level = r32;
                out.emplace_back(key, std::to_string(result));
                break;
            }
            default:
                break;
        }
    }
    // FirstBurstLength may not exceed MaxBurstLength (RFC 7143 13.14).
    p.first_burst_length = std::min(p.first_burst_length, p.max_burst_length);
    return {};
}

}  // namespace vstor::iscsi
