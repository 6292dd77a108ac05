// SAM-5 LUN encoding (peripheral and flat addressing) and the adapter's LUN address.
#pragma once

#include <cstdint>
#include <optional>

#pragma GCC visibility push(default)  // the public API: exported from libvstor.so

namespace vstor {

struct LunAddress {
    std::uint16_t target_id = 0;
    std::uint16_t lun = 0;
};

// 8-byte SAM LUN held as a big-endian u64 (byte 0 of the wire format is the top byte).
// LUNs < 256 use peripheral device addressing (method 00b), larger ones flat space (01b).
constexpr std::uint64_t encode_sam_lun(std::uint16_t lun) {
    if (lun < 256) return std::uint64_t{lun} << 48;
    return (std::uint64_t{0x4000u | (lun & 0x3fffu)}) << 48;
}

// Returns the LUN number, or nullopt for an address method vstor does not serve.
constexpr std::optional<std::uint16_t> decode_sam_lun(std::uint64_t sam) {
    const std::uint16_t first = static_cast<std::uint16_t>(sam >> 48);
    if ((sam & 0x0000ffffffffffffull) != 0) return std::nullopt;  // second..fourth levels unused
    switch (first >> 14) {
        case 0:  // peripheral device addressing: bus identifier must be 0
            if ((first >> 8) & 0x3f) return std::nullopt;
            return static_cast<std::uint16_t>(first & 0xff);
        case 1:  // flat space addressing
            return static_cast<std::uint16_t>(first & 0x3fff);
        default:
            return std::nullopt;
    }
}

// REPORT LUNS well-known LUN (SPC-5 8.2): C101h in the extended format.
inline constexpr std::uint64_t kReportLunsWellKnownLun = 0xC101000000000000ull;

}  // namespace vstor

#pragma GCC visibility pop
