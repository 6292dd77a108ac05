// The `vstor ctl` side of the control socket: one JSON-RPC call per connection.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace vstor::control {

struct CallResult {
    std::optional<nlohmann::json> result;
    std::string error;  // transport or JSON-RPC error message when result is empty
    int code = 0;       // JSON-RPC error code (0 for transport errors)
};

CallResult call_control(const std::string& socket_path, const std::string& method, const nlohmann::json& params);

}  // namespace vstor::control
