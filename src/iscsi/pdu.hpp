// iSCSI PDU framing (RFC 7143 11): the 48-byte BHS, AHS, digests and padded data segment.
// Header fields are read and written through the typed views of bhs.hpp, never by struct casts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "iscsi/bhs.hpp"
#include "util/uninit_buffer.hpp"

namespace vstor::iscsi {

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

struct Pdu {
    std::array<std::uint8_t, kBhsLength> bhs{};
    std::vector<std::uint8_t> ahs;
    std::vector<std::uint8_t> data;
    // Set instead of `data` when the data segment was received straight into a command's buffer
    // (connection_rx.cpp): its length, and for a SCSI Command's immediate data the new command's
    // whole buffer (the segment at offset 0).
    std::uint32_t placed_len = 0;
    util::UninitBytes placed_buffer;
    std::size_t data_length() const { return placed_len ? placed_len : data.size(); }

    // The header seen as a PDU type (bhs.hpp): `pdu.as<ScsiCommandBhs>().cmdsn()`.
    template <template <class> class View>
    View<std::uint8_t> as() { return View<std::uint8_t>(bhs.data()); }
    template <template <class> class View>
    View<const std::uint8_t> as() const { return View<const std::uint8_t>(bhs.data()); }
    // A new PDU of the view's type: sets its opcode and returns the view to fill in the rest.
    template <template <class> class View>
    View<std::uint8_t> init() {
        bhs[0] = View<std::uint8_t>::kOpcode;
        return as<View>();
    }

    std::uint8_t opcode() const { return as<Bhs>().opcode(); }
    bool immediate() const { return as<Bhs>().immediate(); }
    bool final_bit() const { return as<Bhs>().final_bit(); }
    std::uint64_t lun() const { return as<Bhs>().lun(); }
    std::uint32_t itt() const { return as<Bhs>().itt(); }
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

// What follows the BHS before the data segment (AHS, header digest), and after it (padding,
// data digest), for these settings.
std::size_t header_rest_length(std::span<const std::uint8_t, kBhsLength> bhs, bool header_digest);
std::size_t trailer_length(std::size_t data_len, bool data_digest);

// Fills pdu.ahs from `head` (header_rest_length bytes), checking the header digest.
DecodeError decode_header(Pdu& pdu, std::span<const std::uint8_t> head, bool header_digest);
// Whether the digest in `trailer` (trailer_length bytes, digests on) matches `data`.
bool data_digest_matches(std::span<const std::uint8_t> data, std::span<const std::uint8_t> trailer);

// Fills ahs/data of `pdu` (whose bhs is set) from the bytes after the BHS, checking digests.
DecodeError decode_rest(Pdu& pdu, std::span<const std::uint8_t> rest, bool header_digest,
                        bool data_digest, std::size_t max_data);

// Serializes a PDU (sets TotalAHSLength/DataSegmentLength in the BHS first).
void encode(Pdu& pdu, bool header_digest, bool data_digest, std::vector<std::uint8_t>& out);
// Header-only encoding plus separately sent data (zero-copy Data-In): writes BHS(+digest) into
// `head` and the padding/data digest for `data` into `tail`.
void encode_split(Pdu& pdu, std::span<const std::uint8_t> data, bool header_digest, bool data_digest,
                  std::vector<std::uint8_t>& head, std::vector<std::uint8_t>& tail);
// The same for a data segment of `data_len` bytes without a data digest (Data-In sent from a
// LUN's lent memory, which is not read in user space).
void encode_split(Pdu& pdu, std::size_t data_len, bool header_digest, std::vector<std::uint8_t>& head,
                  std::vector<std::uint8_t>& tail);

const char* opcode_name(std::uint8_t opcode);

}  // namespace vstor::iscsi
