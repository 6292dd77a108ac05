// The four-byte header every VPD page starts with (SPC-5 7.8.1), shared by the pages INQUIRY
// builds itself (spc_inquiry.cpp) and the block device pages (sbc_capacity.cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "util/endian.hpp"

namespace vstor::scsi {

// `d` holds the whole page: peripheral device type 0 (direct access), the page code and the
// length of what follows the header.
inline void vpd_header(std::vector<std::uint8_t>& d, std::uint8_t page) {
    d[0] = 0x00;
    d[1] = page;
    util::store_be16(&d[2], static_cast<std::uint16_t>(d.size() - 4));
}

}  // namespace vstor::scsi
