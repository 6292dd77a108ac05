// JSON-RPC 2.0 over a Unix stream socket, one JSON text per line, for `vstor ctl`.
// The socket is created mode 0600 and only the same user (or root) may talk to it.
// Requests run on worker threads, read-only ones apart from changes (ControlService says which
// is which), so `status` answers while a slow change runs; each connection has one request in
// flight at a time, so a client that pipelines gets its replies in order.
#pragma once

#include <memory>
#include <string>

#include "control/control_service.hpp"

namespace vstor::control {

class RpcServer {
public:
    virtual ~RpcServer() = default;
    // Binds `path` (refusing if another live server answers there; a stale socket file is
    // replaced) and starts serving on its own thread. nullptr and `error` on failure.
    static std::unique_ptr<RpcServer> start(const std::string& path, ControlService& service, std::string& error);
    // The same in two steps: bind() claims the path (so `serve` can fail on a busy path before it
    // opens any port or creates any image), serve() starts answering once the service exists.
    static std::unique_ptr<RpcServer> bind(const std::string& path, std::string& error);
    virtual void serve(ControlService& service) = 0;
    virtual void stop() = 0;  // idempotent; removes the socket file
};

// Deepest nesting of arrays/objects a request may have. Every method's params are at most three
// levels deep; nesting is refused while parsing (a parse error) because copying, comparing and
// printing a JSON value recurse once per level, and 100,000 levels overflowed the stack.
inline constexpr int kMaxJsonDepth = 64;

// One JSON-RPC request text in, the response text out ("" for a notification). Public so that
// tests and the fuzzer can drive it without a socket. It is parse_rpc_text, then answer_rpc:
// the server parses on its io thread and answers on a worker.
std::string handle_rpc_text(ControlService& service, const std::string& text);
// The error reply for a text that is no request (bad JSON, too deep, an empty batch), else ""
// and the request (or batch) in `req`.
std::string parse_rpc_text(const std::string& text, nlohmann::json& req);
// The reply to a parsed request or batch ("" when it holds only notifications).
std::string answer_rpc(ControlService& service, const nlohmann::json& req);

// The default control socket path: $XDG_RUNTIME_DIR/vstor.sock, else /tmp/vstor-UID.sock.
std::string default_control_path();

// Empty where the control socket exists; otherwise the one-line reason (the Windows build, whose
// rpc_win32.cpp stands in for rpc_server.cpp and rpc_client.cpp).
std::string control_socket_unavailable_reason();

}  // namespace vstor::control
