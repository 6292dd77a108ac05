// One non-blocking gathered send: as much of `bufs` as the socket takes now, in sendmsg calls of
// up to IOV_MAX buffers. asio's write_some passes at most 64 buffers per call, and a read sent
// from a LUN's lent memory (4 KiB chunks, Backend::read_view) is hundreds of buffers per MiB.
// POSIX only: on Windows it sends nothing (the caller's asynchronous write does it all).
#pragma once

#include <asio/buffer.hpp>

#include <cstddef>
#include <span>
#include <system_error>

#ifndef _WIN32
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#endif

namespace vstor::util {

// Returns the bytes sent. `ec` is set on an error other than a full socket buffer (EAGAIN).
inline std::size_t send_gathered(int fd, std::span<const asio::const_buffer> bufs, std::error_code& ec) {
    ec.clear();
#ifdef _WIN32
    (void)fd;
    (void)bufs;
    return 0;
#else
    constexpr std::size_t kMaxIov = 1024;  // IOV_MAX on Linux
    iovec iov[kMaxIov];
    std::size_t total = 0, i = 0, off = 0;  // next byte: bufs[i] + off
    while (i < bufs.size()) {
        std::size_t n = 0, want = 0;
        for (std::size_t j = i; j < bufs.size() && n < kMaxIov; ++j, ++n) {
            const std::size_t skip = j == i ? off : 0;
            iov[n].iov_base = const_cast<char*>(static_cast<const char*>(bufs[j].data()) + skip);
            iov[n].iov_len = bufs[j].size() - skip;
            want += iov[n].iov_len;
        }
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = n;
        const ssize_t w = ::sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) ec = std::error_code(errno, std::system_category());
            return total;
        }
        total += static_cast<std::size_t>(w);
        // Step past what went out.
        for (std::size_t left = static_cast<std::size_t>(w); left && i < bufs.size();) {
            const std::size_t rest = bufs[i].size() - off;
            if (left < rest) {
                off += left;
                left = 0;
            } else {
                left -= rest;
                ++i;
                off = 0;
            }
        }
        while (i < bufs.size() && bufs[i].size() == off) {
            ++i;
            off = 0;
        }
        if (static_cast<std::size_t>(w) < want) return total;  // the socket buffer is full
    }
    return total;
#endif
}

}  // namespace vstor::util
