// Typed access to JSON-RPC params: a missing or mistyped member is an "invalid params" error
// that names it.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>

#include "control/control_service.hpp"

namespace vstor::control {

inline const nlohmann::json* member(const nlohmann::json& p, const char* key) {
    if (!p.is_object()) return nullptr;
    const auto it = p.find(key);
    return it == p.end() || it->is_null() ? nullptr : &*it;
}

inline std::optional<std::string> opt_string(const nlohmann::json& p, const char* key) {
    const auto* v = member(p, key);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw RpcError(rpc_code::invalid_params, std::string("'") + key + "' must be a string");
    return v->get<std::string>();
}

inline std::string req_string(const nlohmann::json& p, const char* key) {
    auto v = opt_string(p, key);
    if (!v || v->empty()) throw RpcError(rpc_code::invalid_params, std::string("missing '") + key + "'");
    return *v;
}

inline bool opt_bool(const nlohmann::json& p, const char* key, bool dflt = false) {
    const auto* v = member(p, key);
    if (!v) return dflt;
    if (!v->is_boolean()) throw RpcError(rpc_code::invalid_params, std::string("'") + key + "' must be true or false");
    return v->get<bool>();
}

inline std::optional<std::uint64_t> opt_uint(const nlohmann::json& p, const char* key, std::uint64_t max) {
    const auto* v = member(p, key);
    if (!v) return std::nullopt;
    if (!v->is_number_integer() || v->get<std::int64_t>() < 0 || v->get<std::uint64_t>() > max)
        throw RpcError(rpc_code::invalid_params,
                       std::string("'") + key + "' must be a whole number from 0 to " + std::to_string(max));
    return v->get<std::uint64_t>();
}

inline std::uint16_t req_lun(const nlohmann::json& p) {
    auto v = opt_uint(p, "lun", 16383);
    if (!v) throw RpcError(rpc_code::invalid_params, "missing 'lun'");
    return static_cast<std::uint16_t>(*v);
}

}  // namespace vstor::control
