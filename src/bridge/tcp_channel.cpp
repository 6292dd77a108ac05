#include "bridge/tcp_channel.hpp"

#include <cstring>

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
using sock_t = SOCKET;
#define VSTOR_CLOSESOCKET closesocket
constexpr int kSendFlags = 0;
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>
using sock_t = int;
#define VSTOR_CLOSESOCKET ::close
constexpr int kSendFlags = MSG_NOSIGNAL;  // a vanished peer is an error, not SIGPIPE
#endif

namespace vstor::bridge {

namespace {

bool send_all(sock_t s, const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n) {
        const auto k = ::send(s, c, static_cast<int>(n), kSendFlags);
        if (k <= 0) return false;
        c += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

bool recv_all(sock_t s, void* p, std::size_t n) {
    char* c = static_cast<char*>(p);
    while (n) {
        const auto k = ::recv(s, c, static_cast<int>(n), 0);
        if (k <= 0) return false;
        c += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

}  // namespace

std::unique_ptr<TcpChannel> TcpChannel::connect(const std::string& host, std::uint16_t port, std::string& error) {
#ifdef _WIN32
    WSADATA wsa;
    if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) {
        error = "WSAStartup failed";
        return nullptr;
    }
#endif
    std::unique_ptr<TcpChannel> ch(new TcpChannel(host, port));
    const auto s = ch->take();  // proves the endpoint answers
    if (s < 0) {
        error = "cannot connect to " + host + ":" + std::to_string(port);
        return nullptr;
    }
    ch->give(s);
    return ch;
}

TcpChannel::~TcpChannel() {
    for (auto s : all_) VSTOR_CLOSESOCKET(static_cast<sock_t>(s));
}

std::intptr_t TcpChannel::take() {
    {
        std::lock_guard lk(mu_);
        if (!idle_.empty()) {
            const auto s = idle_.back();
            idle_.pop_back();
            return s;
        }
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    if (inet_pton(AF_INET, host_.c_str(), &addr.sin_addr) != 1) return -1;
    const sock_t s = ::socket(AF_INET, SOCK_STREAM, 0);
#ifdef _WIN32
    if (s == INVALID_SOCKET) return -1;
#else
    if (s < 0) return -1;
#endif
    if (::connect(s, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        VSTOR_CLOSESOCKET(s);
        return -1;
    }
    const int one = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, reinterpret_cast<const char*>(&one), sizeof(one));
    std::lock_guard lk(mu_);
    all_.push_back(static_cast<std::intptr_t>(s));
    return static_cast<std::intptr_t>(s);
}

void TcpChannel::give(std::intptr_t s) {
    std::lock_guard lk(mu_);
    idle_.push_back(s);
}

IoctlResult TcpChannel::ioctl(const void* in, std::uint32_t in_len, void* out, std::uint32_t out_len,
                              std::uint32_t out_in) {
    const auto h = take();
    if (h < 0 || out_in > out_len) return {kStatusUnsuccessful, 0};
    const auto s = static_cast<sock_t>(h);
    const std::uint32_t hdr[4] = {kTcpFrameMagic, in_len, out_len, out_in};
    std::int32_t status = 0;
    std::uint32_t info = 0;
    // A broken connection is not returned to the pool: the call fails like an IOCTL on a dead device.
    if (!send_all(s, hdr, sizeof(hdr)) || !send_all(s, in, in_len) || !send_all(s, out, out_in) ||
        !recv_all(s, &status, sizeof(status)) ||
        !recv_all(s, &info, sizeof(info)) || info > out_len || !recv_all(s, out, info))
        return {kStatusUnsuccessful, 0};
    give(h);
    return {status, info};
}

}  // namespace vstor::bridge
