#include "iscsi/iscsi_name.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace vstor::iscsi {

namespace {

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string hex_form_problem(std::string_view digits, const char* type, std::initializer_list<std::size_t> lengths) {
    const bool length_ok = std::find(lengths.begin(), lengths.end(), digits.size()) != lengths.end();
    if (length_ok && std::all_of(digits.begin(), digits.end(), is_lower_hex)) return "";
    std::string want;
    for (auto n : lengths) want += (want.empty() ? "" : " or ") + std::to_string(n);
    return fmt::format("'{}' must be followed by {} hex digits (RFC 7143 4.2.7.2)", type, want);
}

// iqn.YYYY-MM.reversed.domain[:suffix] (RFC 3720 3.2.6.3.1).
std::string iqn_problem(std::string_view name) {
    const std::string_view rest = name.substr(4);
    const bool date_ok = rest.size() >= 8 && is_digit(rest[0]) && is_digit(rest[1]) && is_digit(rest[2]) &&
                         is_digit(rest[3]) && rest[4] == '-' && is_digit(rest[5]) && is_digit(rest[6]) &&
                         rest[7] == '.';
    const int month = date_ok ? (rest[5] - '0') * 10 + (rest[6] - '0') : 0;
    if (!date_ok || month < 1 || month > 12)
        return "'iqn.' must be followed by a date YYYY-MM and a reversed domain name, "
               "e.g. iqn.2026-11.org.example:disk0 (RFC 3720 3.2.6.3.1)";
    const auto colon = rest.find(':');
    const std::string_view domain = rest.substr(8, colon == std::string_view::npos ? std::string_view::npos : colon - 8);
    std::size_t pos = 0;
    while (pos <= domain.size()) {
        const auto dot = std::min(domain.find('.', pos), domain.size());
        if (dot == pos) return "the naming authority after 'iqn.YYYY-MM.' must be a reversed domain name (empty label)";
        pos = dot + 1;
    }
    if (colon != std::string_view::npos && colon + 1 == rest.size()) return "nothing follows the ':'";
    return "";
}

}  // namespace

std::string iscsi_name_problem(std::string_view name) {
    if (name.empty()) return "an empty iSCSI name";
    if (name.size() > kMaxIscsiNameBytes)
        return fmt::format("{} bytes long; iSCSI names are at most {} (RFC 7143 4.2.7.1)", name.size(),
                           kMaxIscsiNameBytes);
    if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
        std::string lower(name);
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return fmt::format("iSCSI names are lower case (RFC 3722); write '{}'", lower);
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if ((c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '.' || c == ':') continue;
        const auto u = static_cast<unsigned char>(c);
        const std::string shown = u > 0x20 && u < 0x7f ? fmt::format("'{}'", c) : fmt::format("byte 0x{:02x}", u);
        return fmt::format("{} at position {}: iSCSI names hold only a-z, 0-9, '-', '.' and ':'", shown, i + 1);
    }
    if (name.starts_with("iqn.")) return iqn_problem(name);
    if (name.starts_with("eui.")) return hex_form_problem(name.substr(4), "eui.", {16});
    if (name.starts_with("naa.")) return hex_form_problem(name.substr(4), "naa.", {16, 32});
    return "iSCSI names start with 'iqn.', 'eui.' or 'naa.' (RFC 7143 4.2.7.1)";
}

}  // namespace vstor::iscsi
