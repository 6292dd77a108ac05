// Windows has no ISA-L build: iSCSI digests use the software CRC32C.
#include "util/crc32c.hpp"

namespace vstor::util {

std::uint32_t crc32c_update(const std::uint8_t* p, std::size_t n, std::uint32_t crc) {
    return crc32c_update_software(p, n, crc);
}

}  // namespace vstor::util
