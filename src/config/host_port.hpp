// HOST:PORT as the command line and the config file give addresses: "host:port", "[v6]:port",
// "host" (the default port) or ":port" (every address, 0.0.0.0). Errors name `what`, the flag or
// key the text came from.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace vstor::cli {

struct HostPort {
    std::string address;
    std::uint16_t port = 0;
};

bool parse_host_port(std::string_view what, const std::string& s, std::uint16_t default_port, HostPort& out,
                     std::string& error);

}  // namespace vstor::cli
