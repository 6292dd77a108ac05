#include "control/rpc_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asio.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "util/accept_loop.hpp"
#include "util/thread_pool.hpp"

namespace vstor::control {

using nlohmann::json;
using local = asio::local::stream_protocol;

namespace {
constexpr std::size_t kMaxRequest = 1 << 20;

json error_response(const json& id, int code, const std::string& message) {
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}};
}

// One request object -> response (null for a notification).
json handle_one(ControlService& service, const json& req) {
    if (!req.is_object()) return error_response(nullptr, rpc_code::invalid_request, "a request must be an object");
    const json id = req.contains("id") ? req["id"] : json();
    const bool notification = !req.contains("id");
    if (!id.is_null() && !id.is_string() && !id.is_number_integer())
        return error_response(nullptr, rpc_code::invalid_request, "'id' must be a string or an integer");
    if (req.value("jsonrpc", json()) != "2.0")
        return error_response(id, rpc_code::invalid_request, "'jsonrpc' must be \"2.0\"");
    if (!req.contains("method") || !req["method"].is_string())
        return error_response(id, rpc_code::invalid_request, "'method' must be a string");
    json response;
    try {
        const json params = req.contains("params") ? req["params"] : json();
        response = json{{"jsonrpc", "2.0"}, {"id", id}, {"result", service.call(req["method"].get<std::string>(), params)}};
    } catch (const RpcError& e) {
        response = error_response(id, e.code, e.what());
    } catch (const std::exception& e) {
        response = error_response(id, rpc_code::failed, std::string("internal error: ") + e.what());
    }
    return notification ? json() : response;
}

// Whether answering `req` (a request or a batch) only reads: every member names a read-only
// method. Anything else (a change, an unknown method, a malformed member) goes the changes' way.
bool only_reads(const ControlService& service, const json& req) {
    const auto reads = [&service](const json& r) {
        return r.is_object() && r.contains("method") && r["method"].is_string() &&
               service.read_only(r["method"].get<std::string>());
    };
    if (!req.is_array()) return reads(req);
    return !req.empty() && std::all_of(req.begin(), req.end(), reads);
}

class RpcServerImpl final : public RpcServer {
public:
    explicit RpcServerImpl(std::string path) : path_(std::move(path)) {}
    ~RpcServerImpl() override { stop(); }

    bool bind(std::string& error) {
        asio::error_code ec;
        if (path_.size() >= sizeof(sockaddr_un::sun_path)) {
            error = "control socket path is too long: " + path_;
            return false;
        }
        struct stat st {};
        if (::lstat(path_.c_str(), &st) == 0) {
            if (!S_ISSOCK(st.st_mode)) {
                error = "control socket path " + path_ + " exists and is not a socket";
                return false;
            }
            local::socket probe(io_);
            probe.connect(local::endpoint(path_), ec);
            if (!ec) {
                error = "another vstor is already listening on control socket " + path_;
                return false;
            }
            ::unlink(path_.c_str());  // stale socket of a process that is gone
        }
        // Created owner-only from the start (no window in which others could connect).
        const mode_t old = ::umask(0177);
        acceptor_.open(local(), ec);
        if (!ec) acceptor_.bind(local::endpoint(path_), ec);
        ::umask(old);
        if (!ec) acceptor_.listen(16, ec);
        if (ec) {
            error = "cannot listen on control socket " + path_ + ": " + ec.message();
            return false;
        }
        ::chmod(path_.c_str(), 0600);
        bound_ = true;
        return true;
    }

    void serve(ControlService& service) override {
        if (service_ || stopped_) return;
        service_ = &service;
        changes_ = std::make_unique<util::ThreadPool>(1);  // changes run one at a time anyway
        readers_ = std::make_unique<util::ThreadPool>(kReaders);
        accepting_.start();
        thread_ = std::thread([this] { io_.run(); });
    }

    // Waits for the calls that run (a LUN removal waits for its backend); queued ones are dropped.
    void stop() override {
        if (stopped_.exchange(true)) return;
        accepting_.stop();
        io_.stop();
        if (thread_.joinable()) thread_.join();
        changes_.reset();
        readers_.reset();
        if (bound_) ::unlink(path_.c_str());
    }

private:
    struct Client : std::enable_shared_from_this<Client> {
        explicit Client(local::socket s) : sock(std::move(s)), buf(kMaxRequest) {}
        local::socket sock;
        asio::streambuf buf;
    };

    void on_accept(local::socket sock) {
        if (!peer_allowed(sock)) return;
        read(std::make_shared<Client>(std::move(sock)));
    }

    // Only the serving user or root: the socket mode is the first guard, this the second.
    static bool peer_allowed(local::socket& sock) {
        ucred cred{};
        socklen_t len = sizeof cred;
        if (::getsockopt(sock.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
        if (cred.uid == 0 || cred.uid == ::geteuid()) return true;
        spdlog::warn("control: refused a connection from uid {}", cred.uid);
        return false;
    }

    void read(const std::shared_ptr<Client>& c) {
        asio::async_read_until(c->sock, c->buf, '\n', [this, c](std::error_code ec, std::size_t n) {
            if (ec) {
                if (ec == asio::error::not_found) {  // a line longer than kMaxRequest
                    write_line(c, error_response(nullptr, rpc_code::invalid_request, "request too long").dump(), false);
                }
                return;
            }
            std::string line(asio::buffers_begin(c->buf.data()), asio::buffers_begin(c->buf.data()) + static_cast<std::ptrdiff_t>(n));
            c->buf.consume(n);
            answer(c, std::move(line));
        });
    }

    // The request is answered on a worker (read-only methods on their own, so they never queue
    // behind a change), its reply written on the io thread; only then is the connection's next
    // request read, so one connection's replies come in the order of its requests.
    void answer(const std::shared_ptr<Client>& c, std::string line) {
        json req;
        if (auto refused = parse_rpc_text(line, req); !refused.empty()) return write_line(c, std::move(refused), true);
        auto& lane = only_reads(*service_, req) ? *readers_ : *changes_;
        lane.post([this, c, req = std::move(req)] {
            if (stopped_) return;
            auto reply = answer_rpc(*service_, req);
            asio::post(io_, [this, c, reply = std::move(reply)]() mutable {
                if (reply.empty()) return read(c);
                write_line(c, std::move(reply), true);
            });
        });
    }

    void write_line(const std::shared_ptr<Client>& c, std::string text, bool keep_reading) {
        auto out = std::make_shared<std::string>(std::move(text) + "\n");
        asio::async_write(c->sock, asio::buffer(*out), [this, c, out, keep_reading](std::error_code ec, std::size_t) {
            if (!ec && keep_reading) read(c);
        });
    }

    const std::string path_;
    ControlService* service_ = nullptr;  // set by serve(); until then connections wait in the backlog
    asio::io_context io_;
    local::acceptor acceptor_{io_};
    util::AcceptLoop<local> accepting_{acceptor_, "control", [this](local::socket s) { on_accept(std::move(s)); }};
    std::thread thread_;
    static constexpr unsigned kReaders = 2;
    std::unique_ptr<util::ThreadPool> changes_, readers_;  // the calls' workers, from serve() to stop()
    std::atomic<bool> stopped_{false};
    bool bound_ = false;
};
}  // namespace

std::string parse_rpc_text(const std::string& text, json& req) {
    struct TooDeep {};
    try {
        // The callback sees every array/object start with its depth (0 = the top level) and stops
        // the parse before anything deeper is built.
        req = json::parse(text, [](int depth, json::parse_event_t event, json&) {
            if ((event == json::parse_event_t::object_start || event == json::parse_event_t::array_start) &&
                depth >= kMaxJsonDepth)
                throw TooDeep{};
            return true;
        });
    } catch (const TooDeep&) {
        return error_response(nullptr, rpc_code::parse_error,
                              "the request nests arrays/objects deeper than " + std::to_string(kMaxJsonDepth) + " levels")
            .dump();
    } catch (const json::exception&) {  // parse_error, or out_of_range for numbers like 3e347
        return error_response(nullptr, rpc_code::parse_error, "the request is not valid JSON").dump();
    }
    if (req.is_array() && req.empty()) return error_response(nullptr, rpc_code::invalid_request, "empty batch").dump();
    return {};
}

std::string answer_rpc(ControlService& service, const json& req) {
    if (req.is_array()) {  // batch (JSON-RPC 2.0 section 6)
        json out = json::array();
        for (const auto& r : req)
            if (auto resp = handle_one(service, r); !resp.is_null()) out.push_back(std::move(resp));
        return out.empty() ? "" : out.dump();
    }
    const auto resp = handle_one(service, req);
    return resp.is_null() ? "" : resp.dump();
}

std::string handle_rpc_text(ControlService& service, const std::string& text) {
    json req;
    if (auto refused = parse_rpc_text(text, req); !refused.empty()) return refused;
    return answer_rpc(service, req);
}

std::string control_socket_unavailable_reason() { return {}; }

std::string default_control_path() {
    if (const char* run = std::getenv("XDG_RUNTIME_DIR"); run && *run) return std::string(run) + "/vstor.sock";
    return "/tmp/vstor-" + std::to_string(::geteuid()) + ".sock";
}

std::unique_ptr<RpcServer> RpcServer::bind(const std::string& path, std::string& error) {
    auto s = std::make_unique<RpcServerImpl>(path);
    if (!s->bind(error)) return nullptr;
    return s;
}

std::unique_ptr<RpcServer> RpcServer::start(const std::string& path, ControlService& service, std::string& error) {
    auto s = bind(path, error);
    if (s) s->serve(service);
    return s;
}

}  // namespace vstor::control
