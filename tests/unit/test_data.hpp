// Data helpers the unit tests share: reproducible random bytes, and how much of a file the file
// system has allocated (for tests that check a hole stays a hole).
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace vstor::test {

// n bytes from a seeded generator: the same seed gives the same bytes in every element type.
template <class Byte = std::uint8_t>
std::vector<Byte> random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 g(seed);
    std::vector<Byte> v(n);
    for (auto& b : v) b = static_cast<Byte>(g());
    return v;
}

// Bytes the file system holds for `path` (st_blocks), 0 if it cannot be read.
inline std::uint64_t allocated_bytes(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return 0;
    return static_cast<std::uint64_t>(st.st_blocks) * 512;
}

}  // namespace vstor::test
