// A blocking TCP client that speaks raw iSCSI PDUs to a test server: what the login tests need to
// act as a careless or hostile initiator (no digests, login and text requests only).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "iscsi/pdu.hpp"
#include "util/endian.hpp"

namespace vstor::iscsi::test {

struct RawPdu {
    std::uint8_t opcode = 0, flags = 0;
    std::uint16_t status = 0;  // Login Response status class/detail
    std::string data;
};

class RawInitiator {
public:
    explicit RawInitiator(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~RawInitiator() { ::close(fd_); }
    RawInitiator(const RawInitiator&) = delete;
    RawInitiator& operator=(const RawInitiator&) = delete;

    bool connected() const { return connected_; }

    // A Login Request: CSG `csg`, T=1 with NSG `nsg` when `transit`.
    bool send_login(const std::string& text, int csg, int nsg, bool transit) {
        std::vector<std::uint8_t> b(48, 0);
        b[0] = op::login_request | 0x40;
        b[1] = static_cast<std::uint8_t>((transit ? 0x80 : 0) | (csg << 2) | (transit ? nsg : 0));
        util::store_be24(&b[5], static_cast<std::uint32_t>(text.size()));
        b[8] = 0x80;  // ISID type: random
        util::store_be32(&b[16], itt_++);
        util::store_be32(&b[24], 1);
        util::store_be32(&b[28], exp_statsn_);
        b.insert(b.end(), text.begin(), text.end());
        b.resize((b.size() + 3) & ~std::size_t{3});
        return ::write(fd_, b.data(), b.size()) == static_cast<ssize_t>(b.size());
    }

    // The next PDU, or nullopt when the connection closes or nothing comes within `timeout`.
    std::optional<RawPdu> read_pdu(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        std::uint8_t h[48];
        if (!read_all(h, 48, timeout)) return std::nullopt;
        const std::size_t len = (std::size_t{h[5]} << 16) | (std::size_t{h[6]} << 8) | h[7];
        std::vector<std::uint8_t> d((len + 3) & ~std::size_t{3});
        if (!read_all(d.data(), d.size(), timeout)) return std::nullopt;
        exp_statsn_ = util::load_be32(&h[24]) + 1;
        return RawPdu{static_cast<std::uint8_t>(h[0] & 0x3f), h[1], util::load_be16(&h[36]),
                      std::string(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(len))};
    }

    // True when the peer closes the connection within `timeout` (anything it sends is skipped).
    bool closed_within(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            char buf[4096];
            if (::read(fd_, buf, sizeof buf) <= 0) return true;
        }
    }

private:
    bool read_all(std::uint8_t* p, std::size_t n, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (n) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            pollfd pf{fd_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&pf, 1, static_cast<int>(left.count())) <= 0) return false;
            const ssize_t r = ::read(fd_, p, n);
            if (r <= 0) return false;
            p += r;
            n -= static_cast<std::size_t>(r);
        }
        return true;
    }

    int fd_ = -1;
    bool connected_ = false;
    std::uint32_t itt_ = 1;
    std::uint32_t exp_statsn_ = 0;
};

}  // namespace vstor::iscsi::test
