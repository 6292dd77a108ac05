#include "iscsi/text_keys.hpp"

#include <charconv>

namespace vstor::iscsi {

std::string parse_text(std::span<const std::uint8_t> data, KeyValues& out) {
    std::size_t pos = 0;
    while (pos < data.size()) {
        std::size_t end = pos;
        while (end < data.size() && data[end] != 0) ++end;
        if (end == pos) {  // padding or an empty pair: skip NULs
            ++pos;
            continue;
        }
        const std::string pair(reinterpret_cast<const char*>(&data[pos]), end - pos);
        const auto eq = pair.find('=');
        if (eq == std::string::npos) return "text pair without '=': " + pair.substr(0, 64);
        if (eq == 0) return "text pair with empty key";
        if (eq > 63) return "text key longer than 63 bytes";
        if (pair.size() - eq - 1 > 8192) return "text value longer than 8192 bytes";
        out.emplace_back(pair.substr(0, eq), pair.substr(eq + 1));
        pos = end + 1;
    }
    return {};
}

void append_text(std::vector<std::uint8_t>& out, const std::string& key, const std::string& value) {
    out.insert(out.end(), key.begin(), key.end());
    out.push_back('=');
    out.insert(out.end(), value.begin(), value.end());
    out.push_back(0);
}

std::optional<std::string> find_key(const KeyValues& kv, const std::string& key) {
    for (const auto& [k, v] : kv)
        if (k == key) return v;
    return std::nullopt;
}

std::optional<std::uint64_t> parse_number(const std::string& s) {
    std::uint64_t v = 0;
    const char* b = s.data();
    const char* e = s.data() + s.size();
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        b += 2;
        base = 16;
    }
    if (b == e) return std::nullopt;
    auto [p, ec] = std::from_chars(b, e, v, base);
    if (ec != std::errc() || p != e) return std::nullopt;
    return v;
}

}  // namespace vstor::iscsi
