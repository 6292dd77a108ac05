// iSCSI text key=value lists (RFC 7143 6): NUL-separated UTF-8 pairs in a data segment.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vstor::iscsi {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

// Most text one Login or Text request may collect over PDUs continued with the C bit. RFC 7143
// sets no bound; every key vstor understands fits in a few KiB, and without a cap a peer that
// never clears C makes the target buffer without end before anyone has authenticated.
inline constexpr std::size_t kMaxRequestText = 64 * 1024;

// Parses "k=v\0k=v\0". Returns an error message for malformed input (missing '=', empty key,
// key longer than 63 bytes, value longer than 8192 bytes), "" on success.
std::string parse_text(std::span<const std::uint8_t> data, KeyValues& out);
void append_text(std::vector<std::uint8_t>& out, const std::string& key, const std::string& value);
std::optional<std::string> find_key(const KeyValues& kv, const std::string& key);

// Numbers per RFC 7143 6.1: decimal, or hex with 0x prefix.
std::optional<std::uint64_t> parse_number(const std::string& s);

}  // namespace vstor::iscsi
