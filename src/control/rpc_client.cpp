#include "control/rpc_client.hpp"

#include <asio.hpp>
#include <fmt/format.h>

namespace vstor::control {

namespace {

// Connect, send the request and read one line, bounded by options.timeout; the text read or the
// transport error.
struct Exchange {
    std::string line;
    asio::error_code ec;
    bool connected = false, timed_out = false;
};

Exchange exchange(const std::string& socket_path, const std::string& request, const CallOptions& options) {
    using local = asio::local::stream_protocol;
    asio::io_context io;
    local::socket sock(io);
    asio::steady_timer deadline(io), notice(io);
    asio::streambuf buf;
    Exchange x;
    const auto finish = [&](asio::error_code ec) {
        x.ec = ec;
        deadline.cancel();
        notice.cancel();
    };
    sock.async_connect(local::endpoint(socket_path), [&](asio::error_code ec) {
        if (ec) return finish(ec);
        x.connected = true;
        asio::async_write(sock, asio::buffer(request), [&](asio::error_code ec, std::size_t) {
            if (ec) return finish(ec);
            asio::async_read_until(sock, buf, '\n', [&](asio::error_code ec, std::size_t) { finish(ec); });
        });
    });
    if (options.timeout.count() > 0) {
        deadline.expires_after(options.timeout);
        deadline.async_wait([&](asio::error_code ec) {
            if (ec) return;  // answered first
            x.timed_out = true;
            notice.cancel();
            asio::error_code ignored;
            sock.close(ignored);  // the pending connect, write or read ends with operation_aborted
        });
    }
    if (options.notice_after.count() > 0 && options.on_waiting) {
        notice.expires_after(options.notice_after);
        notice.async_wait([&](asio::error_code ec) {
            if (!ec) options.on_waiting();
        });
    }
    io.run();
    x.line.assign(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
    return x;
}

}  // namespace

CallResult call_control(const std::string& socket_path, const std::string& method, const nlohmann::json& params,
                        const CallOptions& options) {
    CallResult out;
    const nlohmann::json req{{"jsonrpc", "2.0"}, {"id", 1}, {"method", method}, {"params", params}};
    const auto x = exchange(socket_path, req.dump() + "\n", options);
    if (x.timed_out) {
        out.timed_out = true;
        out.error = fmt::format("no answer from the control socket {} within {:g} s (a server answers once its LUNs "
                                "are built, and a change may wait for its backend); a change asked for may still be "
                                "made: see `vstor ctl status`",
                                socket_path, static_cast<double>(options.timeout.count()) / 1000.0);
        return out;
    }
    if (x.ec && !x.connected) {
        out.error = "cannot connect to the control socket " + socket_path + ": " + x.ec.message() +
                    " (is `vstor serve` running? --control PATH selects another socket)";
        return out;
    }
    if (x.ec) {
        out.error = "control socket " + socket_path + ": " + x.ec.message();
        return out;
    }
    nlohmann::json resp;
    try {
        resp = nlohmann::json::parse(x.line);
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
