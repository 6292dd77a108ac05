// NBD wire constants (the upstream protocol document, doc/proto.md of NetworkBlockDevice/nbd).
// Only numbers live here; the handshake and request code read and write them with the
// big-endian helpers of util/endian.hpp (no structs cast over buffers).
#pragma once

#include <cstdint>

namespace vstor::nbd {

// ---- Handshake ----------------------------------------------------------------------------
inline constexpr std::uint64_t kNbdMagic = 0x4e42444d41474943ull;     // "NBDMAGIC"
inline constexpr std::uint64_t kOptMagic = 0x49484156454f5054ull;     // "IHAVEOPT"
inline constexpr std::uint64_t kOptReplyMagic = 0x0003e889045565a9ull;

// Handshake flags (server) and client flags.
inline constexpr std::uint16_t kFlagFixedNewstyle = 1u << 0;
inline constexpr std::uint16_t kFlagNoZeroes = 1u << 1;
inline constexpr std::uint32_t kClientFlagFixedNewstyle = 1u << 0;
inline constexpr std::uint32_t kClientFlagNoZeroes = 1u << 1;

// Options.
namespace opt {
inline constexpr std::uint32_t export_name = 1;
inline constexpr std::uint32_t abort = 2;
inline constexpr std::uint32_t list = 3;
inline constexpr std::uint32_t peek_export = 4;  // withdrawn
inline constexpr std::uint32_t starttls = 5;
inline constexpr std::uint32_t info = 6;
inline constexpr std::uint32_t go = 7;
inline constexpr std::uint32_t structured_reply = 8;
inline constexpr std::uint32_t list_meta_context = 9;
inline constexpr std::uint32_t set_meta_context = 10;
inline constexpr std::uint32_t extended_headers = 11;
}  // namespace opt

// Option reply types; errors have bit 31 set.
namespace rep {
inline constexpr std::uint32_t ack = 1;
inline constexpr std::uint32_t server = 2;
inline constexpr std::uint32_t info = 3;
inline constexpr std::uint32_t meta_context = 4;
inline constexpr std::uint32_t err_unsup = 0x80000001u;
inline constexpr std::uint32_t err_policy = 0x80000002u;
inline constexpr std::uint32_t err_invalid = 0x80000003u;
inline constexpr std::uint32_t err_platform = 0x80000004u;
inline constexpr std::uint32_t err_tls_reqd = 0x80000005u;
inline constexpr std::uint32_t err_unknown = 0x80000006u;
inline constexpr std::uint32_t err_shutdown = 0x80000007u;
inline constexpr std::uint32_t err_block_size_reqd = 0x80000008u;
inline constexpr std::uint32_t err_too_big = 0x80000009u;
}  // namespace rep

// NBD_OPT_INFO / NBD_OPT_GO information types.
namespace info {
inline constexpr std::uint16_t export_ = 0;
inline constexpr std::uint16_t name = 1;
inline constexpr std::uint16_t description = 2;
inline constexpr std::uint16_t block_size = 3;
}  // namespace info

// Transmission flags (16 bits, sent with the export size).
namespace tflag {
inline constexpr std::uint16_t has_flags = 1u << 0;
inline constexpr std::uint16_t read_only = 1u << 1;
inline constexpr std::uint16_t send_flush = 1u << 2;
inline constexpr std::uint16_t send_fua = 1u << 3;
inline constexpr std::uint16_t rotational = 1u << 4;
inline constexpr std::uint16_t send_trim = 1u << 5;
inline constexpr std::uint16_t send_write_zeroes = 1u << 6;
inline constexpr std::uint16_t send_df = 1u << 7;
inline constexpr std::uint16_t can_multi_conn = 1u << 8;
inline constexpr std::uint16_t send_resize = 1u << 9;
inline constexpr std::uint16_t send_cache = 1u << 10;
inline constexpr std::uint16_t send_fast_zero = 1u << 11;
}  // namespace tflag

// ---- Transmission -------------------------------------------------------------------------
inline constexpr std::uint32_t kRequestMagic = 0x25609513u;
inline constexpr std::uint32_t kSimpleReplyMagic = 0x67446698u;
inline constexpr std::uint32_t kStructuredReplyMagic = 0x668e33efu;
inline constexpr std::size_t kRequestHeaderSize = 28;
inline constexpr std::size_t kSimpleReplySize = 16;
inline constexpr std::size_t kStructuredReplyHeaderSize = 20;

namespace cmd {
inline constexpr std::uint16_t read = 0;
inline constexpr std::uint16_t write = 1;
inline constexpr std::uint16_t disc = 2;
inline constexpr std::uint16_t flush = 3;
inline constexpr std::uint16_t trim = 4;
inline constexpr std::uint16_t cache = 5;
inline constexpr std::uint16_t write_zeroes = 6;
inline constexpr std::uint16_t block_status = 7;
inline constexpr std::uint16_t resize = 8;

// The commands that change the export (refused on a read-only one).
inline constexpr bool changes_data(std::uint16_t type) { return type == write || type == trim || type == write_zeroes; }
}  // namespace cmd

namespace cmd_flag {
inline constexpr std::uint16_t fua = 1u << 0;
inline constexpr std::uint16_t no_hole = 1u << 1;
inline constexpr std::uint16_t df = 1u << 2;
inline constexpr std::uint16_t req_one = 1u << 3;
inline constexpr std::uint16_t fast_zero = 1u << 4;
}  // namespace cmd_flag

namespace reply_flag {
inline constexpr std::uint16_t done = 1u << 0;
}

namespace chunk {
inline constexpr std::uint16_t none = 0;
inline constexpr std::uint16_t offset_data = 1;
inline constexpr std::uint16_t offset_hole = 2;
inline constexpr std::uint16_t block_status = 5;
inline constexpr std::uint16_t error = 0x8001;
inline constexpr std::uint16_t error_offset = 0x8002;
}  // namespace chunk

// base:allocation status bits.
inline constexpr std::uint32_t kStateHole = 1u << 0;
inline constexpr std::uint32_t kStateZero = 1u << 1;
inline constexpr const char* kBaseAllocation = "base:allocation";
inline constexpr std::uint32_t kBaseAllocationId = 1;  // the context id this server hands out

// Error values (proto.md "Error values"; not the host's errno).
namespace err {
inline constexpr std::uint32_t ok = 0;
inline constexpr std::uint32_t perm = 1;
inline constexpr std::uint32_t io = 5;
inline constexpr std::uint32_t nomem = 12;
inline constexpr std::uint32_t inval = 22;
inline constexpr std::uint32_t nospc = 28;
inline constexpr std::uint32_t overflow = 75;
inline constexpr std::uint32_t notsup = 95;
inline constexpr std::uint32_t shutdown = 108;
}  // namespace err

// Limits this server advertises and enforces.
inline constexpr std::uint32_t kMaxPayload = 32u << 20;          // NBD_INFO_BLOCK_SIZE maximum
inline constexpr std::uint32_t kPreferredBlock = 4096;           // NBD_INFO_BLOCK_SIZE preferred (at least)
inline constexpr std::uint32_t kMaxOptionLength = 64u << 10;     // longer options: NBD_REP_ERR_TOO_BIG
inline constexpr std::uint32_t kMaxStringLength = 4096;          // proto.md: strings are at most 4096 bytes

const char* command_name(std::uint16_t type) noexcept;
const char* option_name(std::uint32_t option) noexcept;

}  // namespace vstor::nbd
