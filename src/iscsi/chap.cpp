#include "iscsi/chap.hpp"

#include <random>

namespace vstor::iscsi::chap {

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
int b64_value(char c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}
std::mt19937_64& rng() {
    thread_local std::mt19937_64 gen{std::random_device{}()};
    return gen;
}
}  // namespace

std::optional<std::vector<std::uint8_t>> decode_binary(const std::string& v) {
    if (v.size() < 3 || v[0] != '0') return std::nullopt;
    std::vector<std::uint8_t> out;
    if (v[1] == 'x' || v[1] == 'X') {
        std::string h = v.substr(2);
        if (h.size() % 2) h.insert(h.begin(), '0');
        for (std::size_t i = 0; i < h.size(); i += 2) {
            const int a = hex_value(h[i]), b = hex_value(h[i + 1]);
            if (a < 0 || b < 0) return std::nullopt;
            out.push_back(static_cast<std::uint8_t>(a * 16 + b));
        }
        return out;
    }
    if (v[1] == 'b' || v[1] == 'B') {
        std::uint32_t acc = 0;
        int bits = 0;
        for (std::size_t i = 2; i < v.size(); ++i) {
            if (v[i] == '=') break;
            const int x = b64_value(v[i]);
            if (x < 0) return std::nullopt;
            acc = (acc << 6) | static_cast<std::uint32_t>(x);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                out.push_back(static_cast<std::uint8_t>(acc >> bits));
            }
        }
        return out;
    }
    return std::nullopt;
}

std::string encode_hex(const std::vector<std::uint8_t>& bytes) {
    static const char* digits = "0123456789abcdef";
    std::string s = "0x";
    for (auto b : bytes) {
        s.push_back(digits[b >> 4]);
        s.push_back(digits[b & 15]);
    }
    return s;
}

std::vector<std::uint8_t> random_challenge(std::size_t n) {
    std::vector<std::uint8_t> c(n);
    for (auto& b : c) b = static_cast<std::uint8_t>(rng()());
    return c;
}

std::uint8_t random_id() { return static_cast<std::uint8_t>(rng()()); }

}  // namespace vstor::iscsi::chap
