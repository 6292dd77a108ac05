#include "backends/rbd/rbd_tpg_entry.hpp"

#include <charconv>

#include <fmt/format.h>

namespace vstor::backends {

namespace {

constexpr std::string_view kMagic = "vstor-tpg 1 ";

// The access states an entry may name, as the two-letter codes of the format.
constexpr struct {
    AccessState state;
    std::string_view code;
} kStates[] = {
    {AccessState::active_optimized, "ao"}, {AccessState::active_non_optimized, "an"},
    {AccessState::standby, "s"},           {AccessState::unavailable, "u"},
    {AccessState::transitioning, "t"},
};

template <typename T>
bool number(std::string_view s, T& out) {
    if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;  // one spelling per value
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool parse_ports(std::string_view s, std::vector<std::uint16_t>& out, std::string& error) {
    if (s.empty()) return true;
    for (std::size_t at = 0;;) {
        const auto comma = s.find(',', at);
        std::uint16_t p = 0;
        if (!number(s.substr(at, comma - at), p) || p == 0)
            return error = "ports: not a list of relative port ids", false;
        if (!out.empty() && p <= out.back()) return error = "ports: not ascending", false;
        if (out.size() == TpgEntry::kMaxPorts) return error = "ports: too many", false;
        out.push_back(p);
        if (comma == std::string_view::npos) return true;
        at = comma + 1;
    }
}

// One "key=value" field, in the order the format has them.
std::optional<std::string_view> field(std::string_view& rest, std::string_view key, bool last) {
    if (rest.substr(0, key.size()) != key || rest.substr(key.size(), 1) != "=") return std::nullopt;
    rest.remove_prefix(key.size() + 1);
    const auto space = rest.find(' ');
    if (last != (space == std::string_view::npos)) return std::nullopt;
    const auto value = rest.substr(0, space);
    rest.remove_prefix(last ? rest.size() : space + 1);
    return value;
}

}  // namespace

std::string tpg_entry_key(std::uint16_t group) { return fmt::format("tpg.{:05}", group); }

std::string encode_tpg_entry(const TpgEntry& e) {
    std::string_view code = "u";
    for (const auto& s : kStates)
        if (s.state == e.state) code = s.code;
    std::string out = fmt::format("{}group={} state={} seq={} ports=", kMagic, e.group, code, e.seq);
    for (std::size_t i = 0; i < e.ports.size(); ++i) out += (i ? "," : "") + std::to_string(e.ports[i]);
    return out;
}

std::optional<TpgEntry> parse_tpg_entry(std::string_view text, std::string& error) {
    if (text.size() > TpgEntry::kMaxBytes) return error = "entry too long", std::nullopt;
    if (text.substr(0, kMagic.size()) != kMagic) return error = "not a vstor-tpg 1 entry", std::nullopt;
    std::string_view rest = text.substr(kMagic.size());
    TpgEntry e;
    const auto group = field(rest, "group", false);
    if (!group || !number(*group, e.group) || e.group == 0) return error = "bad group", std::nullopt;
    const auto state = field(rest, "state", false);
    bool known = false;
    for (const auto& s : kStates)
        if (state && *state == s.code) e.state = s.state, known = true;
    if (!known) return error = "bad state", std::nullopt;
    const auto seq = field(rest, "seq", false);
    if (!seq || !number(*seq, e.seq)) return error = "bad seq", std::nullopt;
    const auto ports = field(rest, "ports", true);
    if (!ports) return error = "bad ports", std::nullopt;
    if (!parse_ports(*ports, e.ports, error)) return std::nullopt;
    return e;
}

}  // namespace vstor::backends
