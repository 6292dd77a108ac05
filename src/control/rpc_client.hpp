// The `vstor ctl` side of the control socket: one JSON-RPC call per connection.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>

namespace vstor::control {

struct CallResult {
    std::optional<nlohmann::json> result;
    std::string error;  // transport or JSON-RPC error message when result is empty
    int code = 0;       // JSON-RPC error code (0 for transport errors)
    bool timed_out = false;  // no answer within CallOptions::timeout
};

// A server answers only once its LUNs are built (connections wait in the socket's backlog until
// then), and a change may wait for its backend: a call can take long, so it may be bounded, and
// the caller may be told that it is waiting.
struct CallOptions {
    std::chrono::milliseconds timeout{0};       // give up after this long without an answer; 0: wait
    std::chrono::milliseconds notice_after{0};  // call on_waiting once after this long; 0: never
    std::function<void()> on_waiting;
};

CallResult call_control(const std::string& socket_path, const std::string& method, const nlohmann::json& params,
                        const CallOptions& options = {});

}  // namespace vstor::control
