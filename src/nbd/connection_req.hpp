// One NBD request in flight on a Connection (connection_receive.cpp receives it, connection.cpp
// submits it, connection_send.cpp answers it). Pooled per connection: never freed per I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "nbd/connection.hpp"
#include "nbd/reply.hpp"
#include "nbd/transmission_plan.hpp"
#include "util/write_budget.hpp"
#include "vstor/command.hpp"

namespace vstor::nbd {

struct Connection::Req {
    TransmissionPlan plan;       // the request, its SCSI commands and its outcome
    Completion done;             // written by the completion callback before it posts
    std::shared_ptr<Connection> owner;  // set while a command is in the engine
    ReplyHead head{};
    std::size_t head_len = 0;
    std::size_t data_len = 0;      // bytes of data sent after head
    std::uint64_t bytes = 0;       // counted in inflight_bytes_
    util::WriteHold hold;          // a WRITE payload's share of the write budget
};

}  // namespace vstor::nbd
