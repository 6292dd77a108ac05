// NBD TLS on Windows: not available (GnuTLS, which vstor uses for it, is built for Linux only).
// Asking for it (--nbd-tls, [nbd] tls) fails with one line; plain NBD works.
#include "nbd/tls.hpp"

namespace vstor::nbd {

std::string tls_unavailable_reason() { return "NBD TLS (--nbd-tls) is not available on Windows (it needs GnuTLS)"; }
bool tls_error_is_fatal(int) { return true; }
const char* tls_strerror(int) { return "TLS is not available on Windows"; }

std::unique_ptr<TlsCredentials> TlsCredentials::create(const TlsConfig&, std::string& error) {
    error = tls_unavailable_reason();
    return nullptr;
}
TlsCredentials::~TlsCredentials() = default;

// Never constructed: no credentials exist.
TlsSession::TlsSession(const TlsCredentials&, int) {}
TlsSession::~TlsSession() = default;
int TlsSession::handshake() { return -1; }
ssize_t TlsSession::recv(void*, std::size_t) { return -1; }
ssize_t TlsSession::send(const void*, std::size_t) { return -1; }
bool TlsSession::wants_write() const { return false; }
void TlsSession::bye() {}
void TlsSession::alert(int) {}
std::string TlsSession::describe() const { return "none"; }
std::optional<std::string> TlsSession::client_identity() const { return std::nullopt; }

}  // namespace vstor::nbd
