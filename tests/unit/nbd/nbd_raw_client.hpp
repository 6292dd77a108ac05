// A minimal NBD client over a raw socket for tests: it speaks exactly the bytes of proto.md so
// tests can also send what a well-behaved client never would.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "nbd/protocol.hpp"
#include "nbd/request.hpp"
#include "util/endian.hpp"

namespace vstor::nbd::test {

struct OptReply {
    std::uint32_t option = 0;
    std::uint32_t type = 0;
    std::vector<std::uint8_t> data;
};

struct Reply {
    bool ok = false;  // a complete reply was read
    bool structured = false;
    std::uint32_t error = 0;
    std::uint64_t cookie = 0;
    std::vector<std::uint8_t> data;  // READ payload
    std::vector<std::pair<std::uint32_t, std::uint32_t>> extents;  // BLOCK_STATUS
    std::string message;             // error chunk text
};

class RawClient {
public:
    RawClient() = default;
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;
    ~RawClient() {
        if (fd_ >= 0) ::close(fd_);
    }

    bool connect(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        // With a timeout a blocking socket call is not restarted after an interruption: it fails
        // with EINTR, which needs no signal. Task work the kernel queues for this thread (an
        // io_uring ring it submitted to, torn down by an earlier test in the process) interrupts
        // it too, so the loops below retry on EINTR.
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        return ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }

    bool send_all(const void* p, std::size_t n) {
        const auto* b = static_cast<const std::uint8_t*>(p);
        while (n) {
            const ssize_t w = ::send(fd_, b, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR) continue;  // see the note at connect()
            if (w <= 0) return false;
            b += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }
    bool recv_all(void* p, std::size_t n) {
        auto* b = static_cast<std::uint8_t*>(p);
        while (n) {
            const ssize_t r = ::recv(fd_, b, n, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
            b += r;
            n -= static_cast<std::size_t>(r);
        }
        return true;
    }

    // Greeting and client flags (fixed newstyle, no zeroes).
    bool greet() {
        std::uint8_t g[18];
        if (!recv_all(g, sizeof g)) return false;
        if (util::load_be64(g) != kNbdMagic || util::load_be64(g + 8) != kOptMagic) return false;
        std::uint8_t f[4];
        util::store_be32(f, kClientFlagFixedNewstyle | kClientFlagNoZeroes);
        return send_all(f, 4);
    }

    bool send_option(std::uint32_t option, std::span<const std::uint8_t> data) {
        std::vector<std::uint8_t> b(16);
        util::store_be64(b.data(), kOptMagic);
        util::store_be32(&b[8], option);
        util::store_be32(&b[12], static_cast<std::uint32_t>(data.size()));
        b.insert(b.end(), data.begin(), data.end());
        return send_all(b.data(), b.size());
    }

    bool read_opt_reply(OptReply& r) {
        std::uint8_t h[20];
        if (!recv_all(h, sizeof h) || util::load_be64(h) != kOptReplyMagic) return false;
        r.option = util::load_be32(h + 8);
        r.type = util::load_be32(h + 12);
        r.data.resize(util::load_be32(h + 16));
        return r.data.empty() || recv_all(r.data.data(), r.data.size());
    }

    // Replies to one option up to and including the final one (ACK or an error).
    std::vector<OptReply> option(std::uint32_t option, std::span<const std::uint8_t> data = {}) {
        std::vector<OptReply> out;
        if (!send_option(option, data)) return out;
        for (;;) {
            OptReply r;
            if (!read_opt_reply(r)) return out;
            out.push_back(r);
            if (r.type == rep::ack || (r.type & 0x80000000u)) return out;
        }
    }

    static std::vector<std::uint8_t> go_data(const std::string& name) {
        // Sized once and filled in place: GCC 12 warns (-Warray-bounds) about an inlined
        // insert of a string into a 4-byte vector when the name is known to be empty.
        const std::size_t n = name.size();
        std::vector<std::uint8_t> d(4 + n + 4);
        util::store_be32(d.data(), static_cast<std::uint32_t>(n));
        if (n) std::memcpy(&d[4], name.data(), n);
        util::store_be16(&d[4 + n], 1);  // one information request:
        util::store_be16(&d[6 + n], info::block_size);
        return d;
    }

    static std::vector<std::uint8_t> meta_data(const std::string& name, const std::vector<std::string>& queries) {
        std::vector<std::uint8_t> d(4);
        util::store_be32(d.data(), static_cast<std::uint32_t>(name.size()));
        d.insert(d.end(), name.begin(), name.end());
        d.resize(d.size() + 4);
        util::store_be32(&d[d.size() - 4], static_cast<std::uint32_t>(queries.size()));
        for (const auto& q : queries) {
            d.resize(d.size() + 4);
            util::store_be32(&d[d.size() - 4], static_cast<std::uint32_t>(q.size()));
            d.insert(d.end(), q.begin(), q.end());
        }
        return d;
    }

    // Full handshake: greeting, optional structured replies + base:allocation, then GO.
    bool handshake(const std::string& name, bool structured, bool meta = false) {
        if (!greet()) return false;
        if (structured) {
            auto r = option(opt::structured_reply);
            if (r.size() != 1 || r[0].type != rep::ack) return false;
            structured_ = true;
        }
        if (meta) {
            auto r = option(opt::set_meta_context, meta_data(name, {kBaseAllocation}));
            if (r.empty() || r.back().type != rep::ack) return false;
        }
        auto r = option(opt::go, go_data(name));
        if (r.empty() || r.back().type != rep::ack) return false;
        for (const auto& x : r) {
            if (x.type == rep::info && x.data.size() >= 12 && util::load_be16(x.data.data()) == info::export_) {
                size_ = util::load_be64(&x.data[2]);
                flags_ = util::load_be16(&x.data[10]);
            }
        }
        return true;
    }

    bool request(std::uint16_t type, std::uint16_t flags, std::uint64_t cookie, std::uint64_t offset,
                 std::uint32_t length, std::span<const std::uint8_t> payload = {}) {
        RequestHeader h{flags, type, cookie, offset, length};
        std::array<std::uint8_t, kRequestHeaderSize> b{};
        encode_request(h, b);
        return send_all(b.data(), b.size()) && (payload.empty() || send_all(payload.data(), payload.size()));
    }

    // One reply; `read_len` is the data a successful simple READ reply carries.
    Reply reply(std::size_t read_len = 0) {
        Reply r;
        std::uint8_t m[4];
        if (!recv_all(m, 4)) return r;
        const std::uint32_t magic = util::load_be32(m);
        if (magic == kSimpleReplyMagic) {
            std::uint8_t h[12];
            if (!recv_all(h, 12)) return r;
            r.error = util::load_be32(h);
            r.cookie = util::load_be64(h + 4);
            if (r.error == 0 && read_len) {
                r.data.resize(read_len);
                if (!recv_all(r.data.data(), read_len)) return r;
            }
            r.ok = true;
            return r;
        }
        if (magic != kStructuredReplyMagic) return r;
        r.structured = true;
        for (bool first = true;; first = false) {
            std::uint8_t h[16];
            if (!first) {
                if (!recv_all(m, 4) || util::load_be32(m) != kStructuredReplyMagic) return r;
            }
            if (!recv_all(h, 16)) return r;
            const std::uint16_t flags = util::load_be16(h);
            const std::uint16_t type = util::load_be16(h + 2);
            r.cookie = util::load_be64(h + 4);
            std::vector<std::uint8_t> p(util::load_be32(h + 12));
            if (!p.empty() && !recv_all(p.data(), p.size())) return r;
            if (type == chunk::offset_data && p.size() >= 8) {
                r.data.insert(r.data.end(), p.begin() + 8, p.end());
            } else if (type == chunk::block_status && p.size() >= 4) {
                for (std::size_t i = 4; i + 8 <= p.size(); i += 8)
                    r.extents.emplace_back(util::load_be32(&p[i]), util::load_be32(&p[i + 4]));
            } else if ((type & 0x8000) && p.size() >= 6) {
                r.error = util::load_be32(p.data());
                const std::size_t len = util::load_be16(&p[4]);
                if (6 + len <= p.size()) r.message.assign(p.begin() + 6, p.begin() + 6 + static_cast<long>(len));
            }
            if (flags & reply_flag::done) break;
        }
        r.ok = true;
        return r;
    }

    // True if the server closed the connection (possibly after sending something first).
    bool closed_by_server() {
        std::uint8_t buf[4096];
        for (int i = 0; i < 64; ++i) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) return true;
            if (n < 0) return errno == ECONNRESET;
        }
        return false;
    }

    int fd() const { return fd_; }
    std::uint64_t size() const { return size_; }
    std::uint16_t flags() const { return flags_; }

private:
    int fd_ = -1;
    bool structured_ = false;
    std::uint64_t size_ = 0;
    std::uint16_t flags_ = 0;
};

}  // namespace vstor::nbd::test
