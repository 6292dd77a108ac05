// CRC32C through ISA-L (carry-less multiply / SSE4.2 where the CPU has them). Linux only; the
// Windows build uses util/crc32c_win32.cpp instead.
#include <isa-l/crc.h>

#include "util/crc32c.hpp"

namespace vstor::util {

std::uint32_t crc32c_update(const std::uint8_t* p, std::size_t n, std::uint32_t crc) {
    return crc32_iscsi(const_cast<std::uint8_t*>(p), static_cast<int>(n), crc);
}

}  // namespace vstor::util
