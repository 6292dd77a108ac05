#include "control/rpc_client.hpp"

#include <asio.hpp>

namespace vstor::control {

CallResult call_control(const std::string& socket_path, const std::string& method, const nlohmann::json& params) {
    using local = asio::local::stream_protocol;
    CallResult out;
    asio::io_context io;
    local::socket sock(io);
    asio::error_code ec;
    sock.connect(local::endpoint(socket_path), ec);
    if (ec) {
        out.error = "cannot connect to the control socket " + socket_path + ": " + ec.message() +
                    " (is `vstor serve` running? --control PATH selects another socket)";
        return out;
    }
    const nlohmann::json req{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
    asio::write(sock, asio::buffer(req.dump() + "\n"), ec);
    asio::streambuf buf;
    if (!ec) asio::read_until(sock, buf, '\n', ec);
    if (ec) {
        out.error = "control socket " + socket_path + ": " + ec.message();
        return out;
    }
    const std::string line(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    nlohmann::json resp;
    try {
        resp = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {  // parse_error, or out_of_range for numbers like 3e347
        out.error = "control socket " + socket_path + ": the answer is not JSON";
        return out;
    }
    if (resp.contains("error") && resp["error"].is_object()) {
        out.error = resp["error"].value("message", "unknown error");
        out.code = resp["error"].value("code", 0);
    } else if (resp.contains("result")) {
        out.result = resp["result"];
    } else {
        out.error = "control socket " + socket_path + ": the answer has neither result nor error";
    }
    return out;
}

}  // namespace vstor::control
