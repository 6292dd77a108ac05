// iSCSI PDU framing (RFC 7143 11): the 48-byte BHS, AHS, digests and padded data segment.
// Fields are read and written with explicit big-endian helpers, never by struct casts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "util/endian.hpp"

namespace vstor::iscsi {

namespace op {
// Initiator opcodes.
inline constexpr std::uint8_t nop_out = 0x00;
inline constexpr std::uint8_t scsi_command = 0x01;
inline constexpr std::uint8_t tmf_request = 0x02;
inline constexpr std::uint8_t login_request = 0x03;
inline constexpr std::uint8_t text_request = 0x04;
inline constexpr std::uint8_t data_out = 0x05;
inline constexpr std::uint8_t logout_request = 0x06;
inline constexpr std::uint8_t snack = 0x10;
// Target opcodes.
inline constexpr std::uint8_t nop_in = 0x20;
inline constexpr std::uint8_t scsi_response = 0x21;
inline constexpr std::uint8_t tmf_response = 0x22;
inline constexpr std::uint8_t login_response = 0x23;
inline constexpr std::uint8_t text_response = 0x24;
inline constexpr std::uint8_t data_in = 0x25;
inline constexpr std::uint8_t logout_response = 0x26;
inline constexpr std::uint8_t r2t = 0x31;
inline constexpr std::uint8_t async_message = 0x32;
inline constexpr std::uint8_t reject = 0x3f;
}  // namespace op

// Reject reasons (RFC 7143 11.17.1).
namespace reject_reason {
inline constexpr std::uint8_t data_digest_error = 0x02;
inline constexpr std::uint8_t snack_reject = 0x03;
inline constexpr std::uint8_t protocol_error = 0x04;
inline constexpr std::uint8_t command_not_supported = 0x05;
inline constexpr std::uint8_t immediate_command_reject = 0x06;
inline constexpr std::uint8_t task_in_progress = 0x07;
inline constexpr std::uint8_t invalid_data_ack = 0x08;
inline constexpr std::uint8_t invalid_pdu_field = 0x09;
inline constexpr std::uint8_t out_of_resources = 0x0a;
inline constexpr std::uint8_t waiting_for_logout = 0x0c;
}  // namespace reject_reason

inline constexpr std::uint32_t kReservedTag = 0xffffffffu;
inline constexpr std::size_t kBhsLength = 48;

struct Pdu {
    std::array<std::uint8_t, kBhsLength> bhs{};
    std::vector<std::uint8_t> ahs;
    std::vector<std::uint8_t> data;

    std::uint8_t opcode() const { return bhs[0] & 0x3f; }
    bool immediate() const { return bhs[0] & 0x40; }
    bool final_bit() const { return bhs[1] & 0x80; }
    std::uint32_t u32(std::size_t off) const { return util::load_be32(&bhs[off]); }
    void set_u32(std::size_t off, std::uint32_t v) { util::store_be32(&bhs[off], v); }
    std::uint64_t lun() const { return util::load_be64(&bhs[8]); }
    void set_lun(std::uint64_t v) { util::store_be64(&bhs[8], v); }
    std::uint32_t itt() const { return u32(16); }
};

// Lengths announced by a BHS (TotalAHSLength in bytes, DataSegmentLength without padding).
std::size_t ahs_length(std::span<const std::uint8_t, kBhsLength> bhs);
std::size_t data_segment_length(std::span<const std::uint8_t, kBhsLength> bhs);
constexpr std::size_t padded(std::size_t n) { return (n + 3) & ~std::size_t{3}; }

// Bytes following the BHS on the wire for these settings.
std::size_t rest_length(std::span<const std::uint8_t, kBhsLength> bhs, bool header_digest, bool data_digest);

// CRC32C as iSCSI uses it (RFC 7143 13.1; ISA-L's crc32_iscsi).
std::uint32_t crc32c(const std::uint8_t* p, std::size_t n);

enum class DecodeError { none, header_digest, data_digest, too_long, bad_ahs };

// Fills ahs/data of `pdu` (whose bhs is set) from the bytes after the BHS, checking digests.
DecodeError decode_rest(Pdu& pdu, std::span<const std::uint8_t> rest, bool header_digest,
                        bool data_digest, std::size_t max_data);

// Serializes a PDU (sets TotalAHSLength/DataSegmentLength in the BHS first).
void encode(Pdu& pdu, bool header_digest, bool data_digest, std::vector<std::uint8_t>& out);
// Header-only encoding plus separately sent data (zero-copy Data-In): writes BHS(+digest) into
// `head` and the padding/data digest for `data` into `tail`.
void encode_split(Pdu& pdu, std::span<const std::uint8_t> data, bool header_digest, bool data_digest,
                  std::vector<std::uint8_t>& head, std::vector<std::uint8_t>& tail);

const char* opcode_name(std::uint8_t opcode);

}  // namespace vstor::iscsi
