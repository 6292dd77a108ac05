#include "control/metrics_server.hpp"

#include "util/accept_loop.hpp"
#include "util/tcp_listen.hpp"

#include <asio.hpp>
#include <fmt/format.h>

#include <atomic>
#include <memory>
#include <thread>

namespace vstor::control {

using nlohmann::json;

namespace {
std::string label(const std::string& v) {  // escape a label value
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}
}  // namespace

std::string render_prometheus(const json& stats) {
    std::string out;
    struct Counter {
        const char* metric;
        const char* key;
        const char* help;
    };
    static const Counter lun_counters[] = {
        {"vstor_lun_reads_total", "reads", "Commands with data-in completed on the LUN"},
        {"vstor_lun_writes_total", "writes", "Commands with data-out completed on the LUN"},
        {"vstor_lun_other_commands_total", "other", "Commands without data completed on the LUN"},
        {"vstor_lun_read_bytes_total", "bytes_read", "Bytes read from the LUN"},
        {"vstor_lun_written_bytes_total", "bytes_written", "Bytes written to the LUN"},
        {"vstor_lun_errors_total", "errors", "Commands that ended with a status other than GOOD"},
    };
    for (const auto& c : lun_counters) {
        family(out, c.metric, "counter", c.help);
        for (const auto& l : stats["luns"])
            out += fmt::format("{}{{target=\"{}\",lun=\"{}\"}} {}\n", c.metric, label(l["target"].get<std::string>()),
                               l["lun"].get<int>(), l[c.key].get<std::uint64_t>());
    }
    family(out, "vstor_lun_latency_microseconds", "gauge",
           "Command latency percentile since the LUN was added (upper bound of a power-of-two bucket)");
    for (const auto& l : stats["luns"])
        for (const auto& [q, key] : {std::pair{"0.5", "p50"}, {"0.9", "p90"}, {"0.99", "p99"}, {"0.999", "p99.9"}, {"1", "max"}})
            out += fmt::format("vstor_lun_latency_microseconds{{target=\"{}\",lun=\"{}\",quantile=\"{}\"}} {}\n",
                               label(l["target"].get<std::string>()), l["lun"].get<int>(), q,
                               l["latency_us"][key].get<std::uint64_t>());
    static const Counter session_counters[] = {
        {"vstor_session_commands_total", "commands", "SCSI commands completed for the iSCSI session"},
        {"vstor_session_received_bytes_total", "bytes_in", "Data-Out bytes received from the session"},
        {"vstor_session_sent_bytes_total", "bytes_out", "Data-In bytes sent to the session"},
        {"vstor_session_errors_total", "errors", "Commands of the session that did not end GOOD"},
    };
    for (const auto& c : session_counters) {
        family(out, c.metric, "counter", c.help);
        for (const auto& s : stats["sessions"])
            out += fmt::format("{}{{initiator=\"{}\",isid=\"{}\",target=\"{}\"}} {}\n", c.metric,
                               label(s["initiator"].get<std::string>()), label(s["isid"].get<std::string>()),
                               label(s["target"].get<std::string>()), s[c.key].get<std::uint64_t>());
    }
    if (const auto it = stats.find("iscsi"); it != stats.end()) {
        family(out, "vstor_iscsi_chap_failures_total", "counter",
               "CHAP responses with a wrong user name or secret (answers are delayed after a few)");
        out += fmt::format("vstor_iscsi_chap_failures_total {}\n", (*it)["chap_failures"].get<std::uint64_t>());
        family(out, "vstor_iscsi_login_timeouts_total", "counter",
               "iSCSI connections closed for not completing login within the login timeout");
        out += fmt::format("vstor_iscsi_login_timeouts_total {}\n", (*it)["login_timeouts"].get<std::uint64_t>());
    }
    return out;
}

namespace {
class MetricsServerImpl final : public MetricsServer {
public:
    explicit MetricsServerImpl(ControlService& service) : service_(service) {}
    ~MetricsServerImpl() override { stop(); }

    bool bind(const std::string& host, std::uint16_t port, std::string& error) {
        acceptor_ = util::listen_tcp(io_, host, port, error);
        if (!acceptor_) error = "--metrics: " + error;
        return acceptor_ != nullptr;
    }
    void run() {
        accepting_ = std::make_unique<util::AcceptLoop<asio::ip::tcp>>(
            *acceptor_, "metrics", [this](asio::ip::tcp::socket sock) { serve(std::move(sock)); });
        accepting_->start();
        thread_ = std::thread([this] { io_.run(); });
    }
    std::uint16_t port() const override {
        asio::error_code ec;
        return acceptor_->local_endpoint(ec).port();
    }
    void stop() override {
        if (stopped_.exchange(true)) return;
        if (accepting_) accepting_->stop();
        io_.stop();
        if (thread_.joinable()) thread_.join();
    }

private:
    struct Client {
        explicit Client(asio::ip::tcp::socket s) : sock(std::move(s)), buf(8192) {}
        asio::ip::tcp::socket sock;
        asio::streambuf buf;
        std::string reply;
    };
    void serve(asio::ip::tcp::socket sock) {
        auto c = std::make_shared<Client>(std::move(sock));
        asio::async_read_until(c->sock, c->buf, "\r\n\r\n", [this, c](std::error_code rec, std::size_t) {
            if (rec && rec != asio::error::not_found) return;
            std::string line;
            std::istream is(&c->buf);
            std::getline(is, line);
            std::string status = "404 Not Found", type = "text/plain", body = "not found\n";
            if (!rec && (line.rfind("GET /metrics ", 0) == 0 || line.rfind("GET /metrics\r", 0) == 0)) {
                status = "200 OK";
                type = "text/plain; version=0.0.4";
                body = render_prometheus(service_.call("stats", json::object()));
            } else if (rec) {
                status = "431 Request Header Fields Too Large";
                body = "request too large\n";
            }
            c->reply = fmt::format("HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                                   status, type, body.size(), body);
            asio::async_write(c->sock, asio::buffer(c->reply), [c](std::error_code, std::size_t) {
                asio::error_code ignored;
                c->sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
            });
        });
    }

    ControlService& service_;
    asio::io_context io_;
    std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
    std::unique_ptr<util::AcceptLoop<asio::ip::tcp>> accepting_;  // from run()
    std::thread thread_;
    std::atomic<bool> stopped_{false};
};
}  // namespace

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& host, std::uint16_t port, ControlService& service,
                                                    std::string& error) {
    auto s = std::make_unique<MetricsServerImpl>(service);
    if (!s->bind(host, port, error)) return nullptr;
    s->run();
    return s;
}

}  // namespace vstor::control
