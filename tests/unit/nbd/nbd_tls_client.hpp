// A blocking GnuTLS PSK client for tests, on a RawClient's socket after NBD_OPT_STARTTLS.
#pragma once

#include <gnutls/gnutls.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "nbd_raw_client.hpp"

namespace vstor::nbd::test {

inline constexpr const char* kKeyHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

class TlsClient {
public:
    TlsClient(int fd, const char* user, const char* hex_key) {
        gnutls_psk_allocate_client_credentials(&cred_);
        const gnutls_datum_t key{reinterpret_cast<unsigned char*>(const_cast<char*>(hex_key)),
                                 static_cast<unsigned>(std::strlen(hex_key))};
        gnutls_psk_set_client_credentials(cred_, user, &key, GNUTLS_PSK_KEY_HEX);
        gnutls_init(&s_, GNUTLS_CLIENT);
        gnutls_priority_set_direct(s_, "NORMAL:+ECDHE-PSK:+PSK", nullptr);
        gnutls_credentials_set(s_, GNUTLS_CRD_PSK, cred_);
        gnutls_transport_set_int(s_, fd);
        gnutls_handshake_set_timeout(s_, 5000);
    }
    ~TlsClient() {
        gnutls_deinit(s_);
        gnutls_psk_free_client_credentials(cred_);
    }
    bool handshake() {
        do last_ = gnutls_handshake(s_);
        while (last_ < 0 && !gnutls_error_is_fatal(last_));
        return last_ == 0;
    }
    const char* error() const { return gnutls_strerror(last_); }
    bool send_all(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::uint8_t*>(p);
        while (n) {
            const ssize_t w = gnutls_record_send(s_, b, n);
            if (w == GNUTLS_E_INTERRUPTED) continue;  // EINTR on the raw client's socket (its note)
            if (w <= 0) return false;
            b += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }
    bool recv_all(void* p, std::size_t n) {
        auto* b = static_cast<std::uint8_t*>(p);
        while (n) {
            const ssize_t r = gnutls_record_recv(s_, b, n);
            if (r == GNUTLS_E_INTERRUPTED) continue;
            if (r <= 0) return false;
            b += r;
            n -= static_cast<std::size_t>(r);
        }
        return true;
    }
    // One gnutls_record_recv: bytes, 0 on close_notify, or a GnuTLS error code.
    ssize_t recv_some(void* p, std::size_t n) { return gnutls_record_recv(s_, p, n); }
    // One option over TLS, replies up to the final one.
    std::vector<OptReply> option(std::uint32_t o, const std::vector<std::uint8_t>& data) {
        std::vector<std::uint8_t> b(16);
        util::store_be64(b.data(), kOptMagic);
        util::store_be32(&b[8], o);
        util::store_be32(&b[12], static_cast<std::uint32_t>(data.size()));
        b.insert(b.end(), data.begin(), data.end());
        std::vector<OptReply> out;
        if (!send_all(b.data(), b.size())) return out;
        for (;;) {
            std::uint8_t h[20];
            if (!recv_all(h, 20)) return out;
            OptReply r{util::load_be32(h + 8), util::load_be32(h + 12), {}};
            r.data.resize(util::load_be32(h + 16));
            if (!r.data.empty() && !recv_all(r.data.data(), r.data.size())) return out;
            out.push_back(r);
            if (r.type == rep::ack || (r.type & 0x80000000u)) return out;
        }
    }

private:
    gnutls_psk_client_credentials_t cred_ = nullptr;
    gnutls_session_t s_ = nullptr;
    int last_ = 0;
};

}  // namespace vstor::nbd::test
