// An NBD connection's byte stream: the TCP socket, plain or through a TLS session once
// NBD_OPT_STARTTLS succeeded. Reads and writes complete on the socket's executor with
// (error, bytes), as Asio's do, whichever way the bytes go.
// Lifetime: the stream is a member of its connection and never keeps it alive itself; every
// handler given to it holds the connection (its shared_ptr), so the stream outlives them all.
#pragma once

#include <asio.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "nbd/tls.hpp"
#include "util/transfer_all.hpp"

namespace vstor::nbd {

class Stream {
public:
    using Handler = std::function<void(std::error_code, std::size_t)>;

    explicit Stream(asio::ip::tcp::socket socket);
    ~Stream();
    Stream(const Stream&) = delete;
    Stream& operator=(const Stream&) = delete;

    const asio::any_io_executor& executor() const { return exec_; }
    const std::string& peer() const { return peer_; }  // "address:port", for logs
    bool closed() const { return closed_; }

    // Whatever arrives, at most b.size() bytes.
    template <class H>
    void read_some(asio::mutable_buffer b, H&& h) {
        if (!tls_) return socket_.async_read_some(b, std::forward<H>(h));
        tls_read_some(b, Handler(std::forward<H>(h)));
    }
    // Exactly b.size() bytes, or an error.
    template <class H>
    void read(asio::mutable_buffer b, H&& h) {
        if (!tls_) return asio::async_read(socket_, b, util::TransferAllAtOnce{}, std::forward<H>(h));
        tls_read(b, 0, Handler(std::forward<H>(h)));
    }
    // Every byte of `bufs` (a buffer sequence the caller keeps alive until `h` runs).
    template <class Buffers, class H>
    void write(const Buffers& bufs, H&& h) {
        if (!tls_) return asio::async_write(socket_, bufs, util::TransferAllAtOnce{}, std::forward<H>(h));
        auto v = std::make_shared<std::vector<asio::const_buffer>>(asio::buffer_sequence_begin(bufs),
                                                                   asio::buffer_sequence_end(bufs));
        tls_write(std::move(v), 0, 0, 0, Handler(std::forward<H>(h)));
    }

    // Reads what the socket holds now, at most b.size() bytes, without waiting (MSG_DONTWAIT):
    // 0 when nothing is there, on a TLS stream and on Windows; `ec` is asio::error::eof when the
    // peer closed, or another error. Not while a read() or read_some() is in progress.
    std::size_t read_now(asio::mutable_buffer b, std::error_code& ec);

    // Writes what the socket takes now, without waiting: one sendmsg per up to IOV_MAX buffers
    // (asio's async_write gathers at most 16 per call, 8 NBD replies). Returns the bytes written
    // (0 on a TLS stream, whose records go through write()); `ec` is set on a failure other than
    // a full socket buffer. Not while a write() is in progress. Always 0 on Windows.
    std::size_t write_now(const std::vector<asio::const_buffer>& bufs, std::error_code& ec);

    // NBD_OPT_STARTTLS was acknowledged: run the TLS handshake on the socket. `done` gets an
    // empty string once it succeeded (reads and writes then go through TLS), else why it
    // failed. Not called if the stream is closed meanwhile.
    void start_tls(const TlsCredentials& creds, std::function<void(const std::string&)> done);
    const TlsSession* tls() const { return tls_.get(); }

    void shutdown_receive();
    // TLS close_notify (best effort), then the socket; pending operations end with errors.
    void close();

private:
    void tls_read_some(asio::mutable_buffer b, Handler h);
    void tls_read(asio::mutable_buffer b, std::size_t done, Handler h);
    void tls_write(std::shared_ptr<std::vector<asio::const_buffer>> bufs, std::size_t i, std::size_t off,
                   std::size_t total, Handler h);
    void tls_wait(Handler retry);  // waits for the direction GnuTLS asked for
    void tls_handshake_step(std::function<void(const std::string&)> done);

    asio::ip::tcp::socket socket_;
    asio::any_io_executor exec_;
    std::string peer_;
    std::unique_ptr<TlsSession> tls_;
    bool closed_ = false;
};

}  // namespace vstor::nbd
