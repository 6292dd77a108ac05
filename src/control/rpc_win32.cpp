// The control plane on Windows: not available. `vstor ctl` and `serve --control` talk JSON-RPC
// over a Unix socket (rpc_server.cpp, rpc_client.cpp), which this build does not carry; `serve`
// runs without it, and asking for it fails with one line.
#include "control/rpc_client.hpp"
#include "control/rpc_server.hpp"

namespace vstor::control {

std::string control_socket_unavailable_reason() {
    return "the control socket (vstor ctl, --control) is not available on Windows";
}

std::string default_control_path() { return "none on Windows"; }

std::unique_ptr<RpcServer> RpcServer::bind(const std::string&, std::string& error) {
    error = control_socket_unavailable_reason();
    return nullptr;
}

std::unique_ptr<RpcServer> RpcServer::start(const std::string&, ControlService&, std::string& error) {
    error = control_socket_unavailable_reason();
    return nullptr;
}

CallResult call_control(const std::string&, const std::string&, const nlohmann::json&, const CallOptions&) {
    CallResult out;
    out.error = control_socket_unavailable_reason();
    return out;
}

}  // namespace vstor::control
