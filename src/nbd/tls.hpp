// TLS for NBD (proto.md "TLS support") with GnuTLS: server credentials (X.509 certificate and key,
// optionally a CA to verify client certificates; and/or a PSK file in psktool's
// "identity:hexkey" format) and a per-connection session over the connection's non-blocking
// socket. The connection drives it: on GNUTLS_E_AGAIN it waits for the socket with Asio.
#pragma once

#include <gnutls/gnutls.h>

#include <cstddef>
#include <memory>
#include <string>
#include <sys/types.h>

#include "nbd/server.hpp"

namespace vstor::nbd {

class TlsCredentials {
public:
    // nullptr with `error` when files are missing or unreadable, or nothing is configured.
    static std::unique_ptr<TlsCredentials> create(const TlsConfig& cfg, std::string& error);
    ~TlsCredentials();
    TlsCredentials(const TlsCredentials&) = delete;
    TlsCredentials& operator=(const TlsCredentials&) = delete;

private:
    TlsCredentials() = default;
    friend class TlsSession;
    gnutls_certificate_credentials_t x509_ = nullptr;
    gnutls_psk_server_credentials_t psk_ = nullptr;
    bool verify_clients_ = false;
    std::string priority_;
};

class TlsSession {
public:
    // `fd` must be non-blocking; it stays owned by the caller.
    TlsSession(const TlsCredentials& creds, int fd);
    ~TlsSession();
    TlsSession(const TlsSession&) = delete;
    TlsSession& operator=(const TlsSession&) = delete;

    bool ok() const { return session_ != nullptr; }
    // 0 when done; GNUTLS_E_AGAIN / GNUTLS_E_INTERRUPTED to be called again once the socket is
    // ready in the direction wants_write() says; another negative value is fatal.
    int handshake();
    // Like recv/send: bytes moved, 0 on a clean close (recv), or a negative GnuTLS code.
    ssize_t recv(void* p, std::size_t n);
    ssize_t send(const void* p, std::size_t n);
    bool wants_write() const;
    void bye();  // best effort close_notify (never blocks)
    std::string describe() const;  // "TLS1.3 X.509" / "TLS1.2 PSK alice"

private:
    gnutls_session_t session_ = nullptr;
};

}  // namespace vstor::nbd
