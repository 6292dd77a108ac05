// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), as iSCSI header and data digests use it
// (RFC 7143 13.1). Both functions continue a raw running value the way ISA-L's crc32_iscsi does:
// start with 0xFFFFFFFF and invert the final value.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vstor::util {

// ISA-L's crc32_iscsi where ISA-L exists (Linux: src/iscsi/crc32c_isal.cpp), the software
// version elsewhere (Windows: crc32c_win32.cpp).
std::uint32_t crc32c_update(const std::uint8_t* p, std::size_t n, std::uint32_t crc);

// Table-driven slice-by-8, no CPU extensions; checked against ISA-L by tests/unit/util.
std::uint32_t crc32c_update_software(const std::uint8_t* p, std::size_t n, std::uint32_t crc);

}  // namespace vstor::util
