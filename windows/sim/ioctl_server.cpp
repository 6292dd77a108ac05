#include "ioctl_server.hpp"

#include "vstor/bridge_protocol.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace vstor::storport_sim {

namespace {
constexpr std::uint32_t kMagic = 0x32545356u;  // "VST2", as src/bridge/tcp_channel.hpp
constexpr std::uint32_t kMaxFrame = 4u << 20;

bool recv_all(int fd, void* p, std::size_t n) {
    auto* c = static_cast<char*>(p);
    while (n) {
        const auto k = ::recv(fd, c, n, 0);
        if (k <= 0) return false;
        c += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}

bool send_all(int fd, const void* p, std::size_t n) {
    const auto* c = static_cast<const char*>(p);
    while (n) {
        const auto k = ::send(fd, c, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        c += k;
        n -= static_cast<std::size_t>(k);
    }
    return true;
}
}  // namespace

IoctlServer::IoctlServer(Emulator& emu, int process) : emu_(emu), process_(process) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
        return;
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

IoctlServer::~IoctlServer() {
    stopping_ = true;
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    {
        std::lock_guard lk(mu_);
        for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    emu_.kill_process(process_);  // releases any call still parked in the driver
    std::vector<std::thread> conns;
    {
        std::lock_guard lk(mu_);
        conns.swap(conns_);
    }
    for (auto& t : conns) t.join();
    for (int fd : fds_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
}

void IoctlServer::accept_loop() {
    while (!stopping_) {
        const int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        std::lock_guard lk(mu_);
        fds_.push_back(fd);
        conns_.emplace_back([this, fd] { serve(fd); });
    }
}

void IoctlServer::serve(int fd) {
    std::vector<std::uint8_t> in, out;
    for (;;) {
        // magic, input length, output length, leading bytes of the output the driver reads (data-in)
        std::uint32_t hdr[4];
        if (!recv_all(fd, hdr, sizeof(hdr)) || hdr[0] != kMagic || hdr[1] > kMaxFrame || hdr[2] > kMaxFrame ||
            hdr[3] > hdr[2])
            break;
        in.resize(hdr[1]);
        out.assign(hdr[2], 0);
        if (!recv_all(fd, in.data(), in.size()) || !recv_all(fd, out.data(), hdr[3])) break;
        const auto r = emu_.device_ioctl(process_, VSTOR_BRIDGE_IOCTL, in.data(), hdr[1], out.data(), hdr[2]);
        const std::int32_t status = r.status;
        const std::uint32_t info = NT_SUCCESS(r.status) ? r.information : 0;
        if (!send_all(fd, &status, sizeof(status)) || !send_all(fd, &info, sizeof(info)) ||
            !send_all(fd, out.data(), info))
            break;
    }
    // A connection of the service broke: the process exited or was killed. Its IRPs are cancelled.
    if (!stopping_ && !gone_.exchange(true)) emu_.kill_process(process_);
}

}  // namespace vstor::storport_sim
