// TLS for NBD (proto.md "TLS support") with GnuTLS: server credentials (X.509 certificate and key,
// optionally a CA to verify client certificates; and/or a PSK file in psktool's
// "identity:hexkey" format) and a per-connection session over the connection's non-blocking
// socket. The connection drives it: on GNUTLS_E_AGAIN it waits for the socket with Asio.
// GnuTLS is Linux-only: the Windows build links tls_win32.cpp instead, which refuses TLS with one
// clear error, and this header names GnuTLS's handle types without including GnuTLS.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

#include "nbd/server.hpp"

// GnuTLS's opaque handle types (gnutls_session_t and friends point to these).
struct gnutls_session_int;
struct gnutls_certificate_credentials_st;
struct gnutls_psk_server_credentials_st;

namespace vstor::nbd {

// Empty where TLS is built in; otherwise the one-line reason (the Windows build).
std::string tls_unavailable_reason();

// TLS error codes the connection acts on, GnuTLS's values (checked in tls.cpp).
inline constexpr int kTlsAgain = -28;                  // GNUTLS_E_AGAIN
inline constexpr int kTlsInterrupted = -52;            // GNUTLS_E_INTERRUPTED
inline constexpr int kTlsPrematureTermination = -110;  // GNUTLS_E_PREMATURE_TERMINATION
bool tls_error_is_fatal(int code);
const char* tls_strerror(int code);

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
    gnutls_certificate_credentials_st* x509_ = nullptr;
    gnutls_psk_server_credentials_st* psk_ = nullptr;
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
    // 0 when done; kTlsAgain / kTlsInterrupted to be called again once the socket is
    // ready in the direction wants_write() says; another negative value is fatal.
    int handshake();
    // Like recv/send: bytes moved, 0 on a clean close (recv), or a negative GnuTLS code.
    ssize_t recv(void* p, std::size_t n);
    ssize_t send(const void* p, std::size_t n);
    bool wants_write() const;
    void bye();  // best effort close_notify (never blocks)
    // Best effort alert for a failed handshake (never blocks), so the client is told why
    // rather than seeing the connection just close.
    void alert(int gnutls_error);
    std::string describe() const;  // "TLS1.3 X.509" / "TLS1.2 PSK alice"
    // Who the handshake proved the client to be: its PSK identity, or the CN of its certificate
    // when client certificates are required and verified (ca=). nullopt otherwise.
    std::optional<std::string> client_identity() const;

private:
    gnutls_session_int* session_ = nullptr;
    bool verify_clients_ = false;
};

}  // namespace vstor::nbd
