// iSCSI framing: CRC32C test vectors (RFC 7143 B.4), round trips and digest errors.
#include <gtest/gtest.h>

#include "iscsi/pdu.hpp"
#include "iscsi/text_keys.hpp"

namespace vstor::iscsi {
namespace {

TEST(Pdu, Crc32cMatchesRfcVectors) {
    std::vector<std::uint8_t> zeros(32, 0), ones(32, 0xff), inc(32);
    for (int i = 0; i < 32; ++i) inc[i] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(crc32c(zeros.data(), 32), 0x8a9136aau);
    EXPECT_EQ(crc32c(ones.data(), 32), 0x62a8ab43u);
    EXPECT_EQ(crc32c(inc.data(), 32), 0x46dd794eu);
}

TEST(Pdu, EncodeDecodeRoundTripWithDigestsAndPadding) {
    Pdu p;
    p.bhs[0] = op::text_request;
    p.data = {'a', 'b', 'c', 'd', 'e'};  // 5 bytes: 3 bytes of padding
    std::vector<std::uint8_t> wire;
    encode(p, true, true, wire);
    ASSERT_EQ(wire.size(), 48u + 4 + 8 + 4);
    Pdu q;
    std::copy_n(wire.begin(), 48, q.bhs.begin());
    EXPECT_EQ(rest_length(q.bhs, true, true), wire.size() - 48);
    ASSERT_EQ(decode_rest(q, std::span(wire).subspan(48), true, true, 8192), DecodeError::none);
    EXPECT_EQ(q.data, p.data);
}

TEST(Pdu, CorruptDigestsAndOversizeAreDetected) {
    Pdu p;
    p.bhs[0] = op::nop_out;
    p.data = {1, 2, 3, 4};
    std::vector<std::uint8_t> wire;
    encode(p, true, true, wire);
    Pdu q;
    std::copy_n(wire.begin(), 48, q.bhs.begin());
    auto bad_data = wire;
    bad_data[48 + 4] ^= 1;
    EXPECT_EQ(decode_rest(q, std::span(bad_data).subspan(48), true, true, 8192), DecodeError::data_digest);
    auto bad_header = wire;
    bad_header[48] ^= 1;
    EXPECT_EQ(decode_rest(q, std::span(bad_header).subspan(48), true, true, 8192), DecodeError::header_digest);
    EXPECT_EQ(decode_rest(q, std::span(wire).subspan(48), true, true, 2), DecodeError::too_long);
}

TEST(TextKeys, ParsesPairsAndRejectsMalformed) {
    const std::string good = std::string("A=1") + '\0' + "B=two" + '\0';
    KeyValues kv;
    EXPECT_EQ(parse_text({reinterpret_cast<const std::uint8_t*>(good.data()), good.size()}, kv), "");
    ASSERT_EQ(kv.size(), 2u);
    EXPECT_EQ(kv[1].second, "two");
    const std::string bad = std::string("novalue") + '\0';
    KeyValues kv2;
    EXPECT_NE(parse_text({reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()}, kv2), "");
    EXPECT_EQ(parse_number("0x10"), 16u);
    EXPECT_FALSE(parse_number("12a"));
}

}  // namespace
}  // namespace vstor::iscsi
