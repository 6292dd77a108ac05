// CHAP with MD5 (RFC 1994, RFC 7143 12.1.3): challenge generation and response checking.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vstor::iscsi::chap {

// Binary values are sent as 0x<hex> or 0b<base64> (RFC 7143 6.1).
std::optional<std::vector<std::uint8_t>> decode_binary(const std::string& v);
std::string encode_hex(const std::vector<std::uint8_t>& bytes);

// MD5(id || secret || challenge).
std::vector<std::uint8_t> response(std::uint8_t id, const std::string& secret,
                                   const std::vector<std::uint8_t>& challenge);

std::vector<std::uint8_t> random_challenge(std::size_t n = 16);
std::uint8_t random_id();

}  // namespace vstor::iscsi::chap
