// The connection limits of a listener (iSCSI portal, NBD address): how many connections it
// serves at once in all and per client address. Enforced by util::ConnectionLimiter.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vstor::util {

// Defaults (docs/iscsi.md "Connection limits"): far above what initiators open (one connection
// per session, a host with a few hundred sessions), low enough that one address cannot use up
// the descriptors of a process with the usual limit of 1024.
inline constexpr std::size_t kDefaultMaxConnections = 1024;
inline constexpr std::size_t kDefaultMaxConnectionsPerAddress = 256;
inline constexpr std::int64_t kMaxConnectionLimit = 1'000'000;

struct ConnectionLimits {
    std::size_t max_connections = kDefaultMaxConnections;                 // per listener; 0 = none
    std::size_t max_per_address = kDefaultMaxConnectionsPerAddress;      // per client address; 0 = none
};

}  // namespace vstor::util
