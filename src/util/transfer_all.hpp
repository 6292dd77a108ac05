// Completion condition for asio::async_write / async_read that lets one system call move
// everything the kernel takes. asio's own transfer_all caps every write_some/read_some at 64 KiB
// (default_max_transfer_size), so a 1 MiB read reply cost 16 sendmsg calls, and as many wake-ups
// of the reader on the other end (and a 1 MiB write payload 16 recv calls).
#pragma once

#include <cstddef>
#include <limits>
#include <system_error>

namespace vstor::util {

struct TransferAllAtOnce {
    std::size_t operator()(const std::error_code& ec, std::size_t) const {
        return ec ? 0 : std::numeric_limits<std::size_t>::max();
    }
};

}  // namespace vstor::util
