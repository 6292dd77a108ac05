#include "nbd/reply.hpp"

#include <algorithm>
#include <cstring>

#include "nbd/protocol.hpp"
#include "util/endian.hpp"

namespace vstor::nbd {

namespace {

std::size_t simple_header(std::uint8_t* p, std::uint32_t error, std::uint64_t cookie) {
    util::store_be32(p, kSimpleReplyMagic);
    util::store_be32(p + 4, error);
    util::store_be64(p + 8, cookie);
    return kSimpleReplySize;
}

std::size_t chunk_header(std::uint8_t* p, std::uint16_t flags, std::uint16_t type, std::uint64_t cookie,
                         std::uint32_t length) {
    util::store_be32(p, kStructuredReplyMagic);
    util::store_be16(p + 4, flags);
    util::store_be16(p + 6, type);
    util::store_be64(p + 8, cookie);
    util::store_be32(p + 16, length);
    return kStructuredReplyHeaderSize;
}

}  // namespace

std::size_t frame_ok(ReplyHead& head, std::uint64_t cookie) { return simple_header(head.data(), 0, cookie); }

std::size_t frame_error(ReplyHead& head, bool structured, std::uint64_t cookie, std::uint32_t error,
                        const char* why) {
    if (!structured) return simple_header(head.data(), error, cookie);
    const std::size_t msg = std::min(std::strlen(why), head.size() - kStructuredReplyHeaderSize - 6);
    std::uint8_t* p = head.data();
    const std::size_t n = chunk_header(p, reply_flag::done, chunk::error, cookie, static_cast<std::uint32_t>(6 + msg));
    util::store_be32(p + n, error);
    util::store_be16(p + n + 4, static_cast<std::uint16_t>(msg));
    std::memcpy(p + n + 6, why, msg);
    return n + 6 + msg;
}

std::size_t frame_read(ReplyHead& head, bool structured, std::uint64_t cookie, std::uint64_t offset,
                       std::uint32_t length) {
    std::uint8_t* p = head.data();
    if (!structured) return simple_header(p, 0, cookie);
    if (length == 0) return chunk_header(p, reply_flag::done, chunk::none, cookie, 0);
    // Header and offset; the data goes straight from the request's buffer (or lent memory).
    const std::size_t n = chunk_header(p, reply_flag::done, chunk::offset_data, cookie, 8 + length);
    util::store_be64(p + n, offset);
    return n + 8;
}

std::size_t frame_block_status(ReplyHead& head, std::uint64_t cookie,
                               std::span<const std::pair<std::uint32_t, std::uint32_t>> extents,
                               std::vector<std::byte>& payload) {
    payload.resize(8 * extents.size());
    auto* d = reinterpret_cast<std::uint8_t*>(payload.data());
    for (std::size_t i = 0; i < extents.size(); ++i) {
        util::store_be32(d + 8 * i, extents[i].first);
        util::store_be32(d + 8 * i + 4, extents[i].second);
    }
    std::uint8_t* p = head.data();
    const std::size_t n = chunk_header(p, reply_flag::done, chunk::block_status, cookie,
                                       static_cast<std::uint32_t>(4 + payload.size()));
    util::store_be32(p + n, kBaseAllocationId);
    return n + 4;
}

}  // namespace vstor::nbd
