// Transmission-phase reply framing (proto.md "Simple reply message", "Structured reply chunk
// message"). Pure: writes the bytes that go before a reply's data into a caller's head buffer
// and returns how many; the connection queues the head and the data as one gather write.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace vstor::nbd {

// Room for the longest head: a structured error chunk with its message (longer messages are cut).
using ReplyHead = std::array<std::uint8_t, 160>;

// Success with no data.
std::size_t frame_ok(ReplyHead& head, std::uint64_t cookie);

// NBD_REPLY_TYPE_ERROR (u32 error, u16 message length, message) when structured replies were
// negotiated, else a simple reply carrying `error`.
std::size_t frame_error(ReplyHead& head, bool structured, std::uint64_t cookie, std::uint32_t error,
                        const char* why);

// The head of a READ reply whose `length` data bytes follow: a simple reply, or one
// OFFSET_DATA chunk (NONE for zero bytes).
std::size_t frame_read(ReplyHead& head, bool structured, std::uint64_t cookie, std::uint64_t offset,
                       std::uint32_t length);

// One BLOCK_STATUS chunk for the base:allocation context: the head goes into `head`, the
// descriptors (byte length, state flags) into `payload`, which the reply sends after it.
std::size_t frame_block_status(ReplyHead& head, std::uint64_t cookie,
                               std::span<const std::pair<std::uint32_t, std::uint32_t>> extents,
                               std::vector<std::byte>& payload);

}  // namespace vstor::nbd
