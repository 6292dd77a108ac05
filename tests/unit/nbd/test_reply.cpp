// Reply framing (proto.md "Simple reply message", "Structured reply chunk message"): the bytes
// each reply head holds, byte for byte.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "nbd/protocol.hpp"
#include "nbd/reply.hpp"
#include "util/endian.hpp"

namespace vstor::nbd {
namespace {

// Checks a structured chunk header and returns its length field.
std::uint32_t expect_chunk(const ReplyHead& h, std::uint16_t type, std::uint64_t cookie) {
    EXPECT_EQ(util::load_be32(&h[0]), kStructuredReplyMagic);
    EXPECT_EQ(util::load_be16(&h[4]), reply_flag::done);
    EXPECT_EQ(util::load_be16(&h[6]), type);
    EXPECT_EQ(util::load_be64(&h[8]), cookie);
    return util::load_be32(&h[16]);
}

TEST(NbdReply, OkAndSimpleErrorAreSixteenBytes) {
    ReplyHead h{};
    ASSERT_EQ(frame_ok(h, 0x1122334455667788ull), kSimpleReplySize);
    EXPECT_EQ(util::load_be32(&h[0]), kSimpleReplyMagic);
    EXPECT_EQ(util::load_be32(&h[4]), 0u);
    EXPECT_EQ(util::load_be64(&h[8]), 0x1122334455667788ull);
    ASSERT_EQ(frame_error(h, false, 9, err::nospc, "no room"), kSimpleReplySize);
    EXPECT_EQ(util::load_be32(&h[4]), err::nospc);
    EXPECT_EQ(util::load_be64(&h[8]), 9u);
}

TEST(NbdReply, StructuredErrorCarriesTheMessage) {
    ReplyHead h{};
    const std::size_t n = frame_error(h, true, 5, err::perm, "write protected");
    ASSERT_EQ(n, kStructuredReplyHeaderSize + 6 + 15);
    EXPECT_EQ(expect_chunk(h, chunk::error, 5), 6u + 15);
    EXPECT_EQ(util::load_be32(&h[20]), err::perm);
    EXPECT_EQ(util::load_be16(&h[24]), 15u);
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(&h[26]), 15), "write protected");
}

TEST(NbdReply, LongErrorMessageIsCutToTheHead) {
    ReplyHead h{};
    const std::string why(500, 'x');
    const std::size_t n = frame_error(h, true, 5, err::io, why.c_str());
    EXPECT_EQ(n, h.size());
    const std::size_t msg = h.size() - kStructuredReplyHeaderSize - 6;
    EXPECT_EQ(expect_chunk(h, chunk::error, 5), 6u + msg);
    EXPECT_EQ(util::load_be16(&h[24]), msg);
}

TEST(NbdReply, ReadHeads) {
    ReplyHead h{};
    EXPECT_EQ(frame_read(h, false, 3, 4096, 512), kSimpleReplySize);
    EXPECT_EQ(util::load_be32(&h[0]), kSimpleReplyMagic);
    EXPECT_EQ(util::load_be32(&h[4]), 0u);
    // Structured: OFFSET_DATA with the offset; the data follows the head.
    ASSERT_EQ(frame_read(h, true, 3, 4096, 512), kStructuredReplyHeaderSize + 8);
    EXPECT_EQ(expect_chunk(h, chunk::offset_data, 3), 8u + 512);
    EXPECT_EQ(util::load_be64(&h[20]), 4096u);
    // Zero bytes: one NONE chunk.
    ASSERT_EQ(frame_read(h, true, 4, 0, 0), kStructuredReplyHeaderSize);
    EXPECT_EQ(expect_chunk(h, chunk::none, 4), 0u);
}

TEST(NbdReply, BlockStatusChunkAndDescriptors) {
    ReplyHead h{};
    std::vector<std::byte> payload(3);  // resized to the descriptors
    const std::vector<std::pair<std::uint32_t, std::uint32_t>> ext{{8192, 0}, {4096, kStateHole | kStateZero}};
    ASSERT_EQ(frame_block_status(h, 6, ext, payload), kStructuredReplyHeaderSize + 4);
    EXPECT_EQ(expect_chunk(h, chunk::block_status, 6), 4u + 16);
    EXPECT_EQ(util::load_be32(&h[20]), kBaseAllocationId);
    ASSERT_EQ(payload.size(), 16u);
    const auto* d = reinterpret_cast<const std::uint8_t*>(payload.data());
    EXPECT_EQ(util::load_be32(d), 8192u);
    EXPECT_EQ(util::load_be32(d + 4), 0u);
    EXPECT_EQ(util::load_be32(d + 8), 4096u);
    EXPECT_EQ(util::load_be32(d + 12), kStateHole | kStateZero);
}

}  // namespace
}  // namespace vstor::nbd
