#include "config/host_port.hpp"

#include <fmt/format.h>

#include <cstdlib>

namespace vstor::cli {

bool parse_host_port(std::string_view what, const std::string& s, std::uint16_t default_port, HostPort& out,
                     std::string& error) {
    std::string host = s;
    std::string port;
    if (!s.empty() && s.front() == '[') {  // [v6]:port
        const auto close = s.find(']');
        if (close == std::string::npos) {
            error = fmt::format("{} '{}': missing ']'", what, s);
            return false;
        }
        host = s.substr(1, close - 1);
        if (close + 1 < s.size()) {
            if (s[close + 1] != ':') {
                error = fmt::format("{} '{}': expected ':' after ']'", what, s);
                return false;
            }
            port = s.substr(close + 2);
            if (port.empty()) {
                error = fmt::format("{} '{}': empty port", what, s);
                return false;
            }
        }
    } else if (const auto colon = s.rfind(':'); colon != std::string::npos) {
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
        if (port.empty()) {
            error = fmt::format("{} '{}': empty port", what, s);
            return false;
        }
    }
    out.address = host.empty() ? "0.0.0.0" : host;
    out.port = default_port;
    if (!port.empty()) {
        char* end = nullptr;
        const unsigned long v = std::strtoul(port.c_str(), &end, 10);
        if (*end || v > 65535 || port[0] == '-' || port[0] == '+') {
            error = fmt::format("{} '{}': bad port '{}'", what, s, port);
            return false;
        }
        out.port = static_cast<std::uint16_t>(v);
    }
    return true;
}

}  // namespace vstor::cli
