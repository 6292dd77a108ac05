#include "nbd/stream.hpp"

#include "util/gathered_send.hpp"

#include <spdlog/spdlog.h>

#ifndef _WIN32
#include <sys/socket.h>
#include <sys/uio.h>
#endif

#include <algorithm>
#include <cerrno>

namespace vstor::nbd {

namespace {
bool tls_retry(ssize_t r) { return r == kTlsAgain || r == kTlsInterrupted; }
constexpr std::size_t kTlsSendChunk = 16384;  // one TLS record
}  // namespace

Stream::Stream(asio::ip::tcp::socket socket) : socket_(std::move(socket)), exec_(socket_.get_executor()) {
    asio::error_code ec;
    const auto ep = socket_.remote_endpoint(ec);
    peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

Stream::~Stream() = default;

void Stream::tls_wait(Handler retry) {
    socket_.async_wait(tls_->wants_write() ? asio::socket_base::wait_write : asio::socket_base::wait_read,
                       [retry = std::move(retry)](std::error_code ec) { retry(ec, 0); });
}

void Stream::tls_read_some(asio::mutable_buffer b, Handler h) {
    if (closed_) return asio::post(exec_, [h = std::move(h)] { h(asio::error::operation_aborted, 0); });
    const ssize_t n = tls_->recv(b.data(), b.size());
    if (n > 0) return asio::post(exec_, [h = std::move(h), n] { h({}, static_cast<std::size_t>(n)); });
    if (n == 0 || n == kTlsPrematureTermination)
        return asio::post(exec_, [h = std::move(h)] { h(asio::error::eof, 0); });
    if (tls_retry(n)) {
        return tls_wait([this, b, h = std::move(h)](std::error_code ec, std::size_t) {
            if (ec) return h(ec, 0);
            tls_read_some(b, h);
        });
    }
    spdlog::debug("nbd {}: TLS receive: {}", peer_, tls_strerror(static_cast<int>(n)));
    asio::post(exec_, [h = std::move(h)] { h(asio::error::connection_aborted, 0); });
}

void Stream::tls_read(asio::mutable_buffer b, std::size_t done, Handler h) {
    if (done == b.size()) return h({}, done);
    tls_read_some(b + done, [this, b, done, h = std::move(h)](std::error_code ec, std::size_t n) {
        if (ec) return h(ec, done + n);
        tls_read(b, done + n, h);
    });
}

void Stream::tls_write(std::shared_ptr<std::vector<asio::const_buffer>> bufs, std::size_t i, std::size_t off,
                       std::size_t total, Handler h) {
    if (closed_) return asio::post(exec_, [h = std::move(h)] { h(asio::error::operation_aborted, 0); });
    while (i < bufs->size()) {
        const auto& b = (*bufs)[i];
        if (off == b.size()) {
            ++i;
            off = 0;
            continue;
        }
        // After kTlsAgain (GNUTLS_E_AGAIN) the same call is repeated with the same pointer and size.
        const std::size_t chunk = std::min<std::size_t>(b.size() - off, kTlsSendChunk);
        const ssize_t n = tls_->send(static_cast<const std::uint8_t*>(b.data()) + off, chunk);
        if (n > 0) {
            off += static_cast<std::size_t>(n);
            total += static_cast<std::size_t>(n);
            continue;
        }
        if (tls_retry(n)) {
            return tls_wait([this, bufs, i, off, total, h = std::move(h)](std::error_code ec, std::size_t) {
                if (ec) return h(ec, total);
                tls_write(bufs, i, off, total, h);
            });
        }
        spdlog::debug("nbd {}: TLS send: {}", peer_, tls_strerror(static_cast<int>(n)));
        return asio::post(exec_, [h = std::move(h), total] { h(asio::error::connection_aborted, total); });
    }
    asio::post(exec_, [h = std::move(h), total] { h({}, total); });
}

std::size_t Stream::read_now(asio::mutable_buffer b, std::error_code& ec) {
    ec.clear();
#ifdef _WIN32
    (void)b;
    return 0;  // reads go through read_some()
#else
    if (tls_ || closed_ || b.size() == 0) return 0;
    for (;;) {
        const ssize_t n = ::recv(socket_.native_handle(), b.data(), b.size(), MSG_DONTWAIT);
        if (n > 0) return static_cast<std::size_t>(n);
        if (n == 0) {
            ec = asio::error::eof;
            return 0;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) ec = std::error_code(errno, std::system_category());
        return 0;
    }
#endif
}

std::size_t Stream::write_now(const std::vector<asio::const_buffer>& bufs, std::error_code& ec) {
    ec.clear();
    // On Windows no sendmsg: everything goes through write() (vstor.exe, not the hot path).
    if (tls_ || closed_) return 0;
    return util::send_gathered(static_cast<int>(socket_.native_handle()), bufs, ec);
}

void Stream::start_tls(const TlsCredentials& creds, std::function<void(const std::string&)> done) {
    asio::error_code ec;
    socket_.native_non_blocking(true, ec);
    if (ec) return done("cannot start TLS");
    tls_ = std::make_unique<TlsSession>(creds, socket_.native_handle());
    if (!tls_->ok()) return done("cannot start a TLS session");
    tls_handshake_step(std::move(done));
}

void Stream::tls_handshake_step(std::function<void(const std::string&)> done) {
    if (closed_) return;
    for (;;) {
        const int r = tls_->handshake();
        if (r == 0) break;
        if (tls_retry(r)) {
            return tls_wait([this, done = std::move(done)](std::error_code ec, std::size_t) {
                if (ec) return done("TLS handshake: " + ec.message());
                tls_handshake_step(done);
            });
        }
        if (tls_error_is_fatal(r)) {
            spdlog::warn("nbd {}: TLS handshake failed: {}", peer_, tls_strerror(r));
            tls_->alert(r);
            return done("TLS handshake failed");
        }
    }
    spdlog::info("nbd {}: {} session established", peer_, tls_->describe());
    done("");
}

void Stream::shutdown_receive() {
    asio::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
}

void Stream::close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    if (tls_) tls_->bye();
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
}

}  // namespace vstor::nbd
