#include "nbd/tls.hpp"

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <fstream>

namespace vstor::nbd {

static_assert(kTlsAgain == GNUTLS_E_AGAIN && kTlsInterrupted == GNUTLS_E_INTERRUPTED &&
              kTlsPrematureTermination == GNUTLS_E_PREMATURE_TERMINATION);

std::string tls_unavailable_reason() { return {}; }
bool tls_error_is_fatal(int code) { return gnutls_error_is_fatal(code) != 0; }
const char* tls_strerror(int code) { return gnutls_strerror(code); }

namespace {
bool readable(const std::string& path) { return std::ifstream(path).good(); }
}  // namespace

std::unique_ptr<TlsCredentials> TlsCredentials::create(const TlsConfig& cfg, std::string& error) {
    if (cfg.cert_file.empty() != cfg.key_file.empty()) {
        error = "nbd tls: cert= and key= go together";
        return nullptr;
    }
    if (cfg.cert_file.empty() && cfg.psk_file.empty()) {
        error = "nbd tls: needs cert= and key= (X.509) or psk= (pre-shared keys)";
        return nullptr;
    }
    if (!cfg.ca_file.empty() && cfg.cert_file.empty()) {
        error = "nbd tls: ca= (client certificate check) needs cert= and key=";
        return nullptr;
    }
    for (const auto* f : {&cfg.cert_file, &cfg.key_file, &cfg.ca_file, &cfg.psk_file}) {
        if (!f->empty() && !readable(*f)) {
            error = "nbd tls: cannot read '" + *f + "'";
            return nullptr;
        }
    }
    std::unique_ptr<TlsCredentials> c(new TlsCredentials);
    if (!cfg.cert_file.empty()) {
        int r = gnutls_certificate_allocate_credentials(&c->x509_);
        if (r == 0)
            r = gnutls_certificate_set_x509_key_file(c->x509_, cfg.cert_file.c_str(), cfg.key_file.c_str(),
                                                     GNUTLS_X509_FMT_PEM);
        if (r < 0) {
            error = "nbd tls: certificate '" + cfg.cert_file + "' / key '" + cfg.key_file + "': " + gnutls_strerror(r);
            return nullptr;
        }
        if (!cfg.ca_file.empty()) {
            r = gnutls_certificate_set_x509_trust_file(c->x509_, cfg.ca_file.c_str(), GNUTLS_X509_FMT_PEM);
            if (r <= 0) {
                error = "nbd tls: CA file '" + cfg.ca_file + "': " + (r < 0 ? gnutls_strerror(r) : "no certificate");
                return nullptr;
            }
            c->verify_clients_ = true;
        }
    }
    if (!cfg.psk_file.empty()) {
        int r = gnutls_psk_allocate_server_credentials(&c->psk_);
        if (r == 0) r = gnutls_psk_set_server_credentials_file(c->psk_, cfg.psk_file.c_str());
        if (r < 0) {
            error = "nbd tls: PSK file '" + cfg.psk_file + "': " + gnutls_strerror(r);
            return nullptr;
        }
    }
    // TLS 1.2 or later only (proto.md "TLS versions"); PSK key exchanges only when keys exist.
    c->priority_ = "NORMAL:-VERS-TLS1.1:-VERS-TLS1.0";
    if (c->psk_) c->priority_ += ":+ECDHE-PSK:+PSK";
    return c;
}

TlsCredentials::~TlsCredentials() {
    if (x509_) gnutls_certificate_free_credentials(x509_);
    if (psk_) gnutls_psk_free_server_credentials(psk_);
}

TlsSession::TlsSession(const TlsCredentials& c, int fd) {
    // GNUTLS_NO_SIGNAL: a peer gone mid-write must not raise SIGPIPE (MSG_NOSIGNAL).
    if (gnutls_init(&session_, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) < 0) {
        session_ = nullptr;
        return;
    }
    bool ok = gnutls_priority_set_direct(session_, c.priority_.c_str(), nullptr) >= 0;
    if (ok && c.x509_) ok = gnutls_credentials_set(session_, GNUTLS_CRD_CERTIFICATE, c.x509_) >= 0;
    if (ok && c.psk_) ok = gnutls_credentials_set(session_, GNUTLS_CRD_PSK, c.psk_) >= 0;
    verify_clients_ = c.verify_clients_;
    if (ok && c.verify_clients_) {
        gnutls_certificate_server_set_request(session_, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert(session_, nullptr, 0);
    }
    if (!ok) {
        gnutls_deinit(session_);
        session_ = nullptr;
        return;
    }
    gnutls_transport_set_int(session_, fd);
    gnutls_handshake_set_timeout(session_, GNUTLS_INDEFINITE_TIMEOUT);
}

TlsSession::~TlsSession() {
    if (session_) gnutls_deinit(session_);
}

int TlsSession::handshake() { return gnutls_handshake(session_); }
ssize_t TlsSession::recv(void* p, std::size_t n) { return gnutls_record_recv(session_, p, n); }
ssize_t TlsSession::send(const void* p, std::size_t n) { return gnutls_record_send(session_, p, n); }
bool TlsSession::wants_write() const { return gnutls_record_get_direction(session_) == 1; }
void TlsSession::bye() { gnutls_bye(session_, GNUTLS_SHUT_WR); }
void TlsSession::alert(int gnutls_error) { gnutls_alert_send_appropriate(session_, gnutls_error); }

std::string TlsSession::describe() const {
    const char* v = gnutls_protocol_get_name(gnutls_protocol_get_version(session_));
    std::string s = v ? v : "TLS";
    if (gnutls_auth_get_type(session_) == GNUTLS_CRD_PSK) {
        const char* user = gnutls_psk_server_get_username(session_);
        s += std::string(" PSK ") + (user ? user : "?");
    } else {
        s += " X.509";
    }
    return s;
}

std::optional<std::string> TlsSession::client_identity() const {
    if (gnutls_auth_get_type(session_) == GNUTLS_CRD_PSK) {
        const char* user = gnutls_psk_server_get_username(session_);
        if (user && *user) return std::string(user);
        return std::nullopt;
    }
    // X.509: only a certificate the handshake required and verified against ca= names anyone.
    if (!verify_clients_ || gnutls_certificate_type_get(session_) != GNUTLS_CRT_X509) return std::nullopt;
    unsigned status = 1;
    if (gnutls_certificate_verify_peers2(session_, &status) < 0 || status != 0) return std::nullopt;
    unsigned count = 0;
    const gnutls_datum_t* chain = gnutls_certificate_get_peers(session_, &count);
    if (!chain || count == 0) return std::nullopt;
    gnutls_x509_crt_t crt = nullptr;
    if (gnutls_x509_crt_init(&crt) < 0) return std::nullopt;
    std::optional<std::string> cn;
    if (gnutls_x509_crt_import(crt, &chain[0], GNUTLS_X509_FMT_DER) >= 0) {
        char buf[256];
        std::size_t len = sizeof buf;
        if (gnutls_x509_crt_get_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &len) >= 0 && len > 0)
            cn = std::string(buf, len);
    }
    gnutls_x509_crt_deinit(crt);
    return cn;
}

}  // namespace vstor::nbd
