// Sense data encoders and the one decoder: whatever either encoder writes, decode_sense reads back
// the same condition, in fixed and in descriptor format; short or foreign bytes read safely.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "vstor/sense.hpp"

namespace vstor::scsi {
namespace {

using Encoder = std::uint8_t (*)(const Sense&, std::uint8_t*, std::size_t);

Sense round_trip(const Sense& in, Encoder enc) {
    std::array<std::uint8_t, 252> buf{};
    const auto n = enc(in, buf.data(), buf.size());
    const auto out = decode_sense({buf.data(), n});
    EXPECT_TRUE(out.has_value());
    return out.value_or(Sense{});
}

void expect_same(const Sense& a, const Sense& b) {
    EXPECT_EQ(a.key, b.key);
    EXPECT_EQ(a.asc, b.asc);
    EXPECT_EQ(a.ascq, b.ascq);
    EXPECT_EQ(a.deferred, b.deferred);
    EXPECT_EQ(a.has_field_pointer, b.has_field_pointer);
    if (a.has_field_pointer) {
        EXPECT_EQ(a.in_cdb, b.in_cdb);
        EXPECT_EQ(a.bit_valid, b.bit_valid);
        EXPECT_EQ(a.bit, b.bit);
        EXPECT_EQ(a.field_byte, b.field_byte);
    }
    EXPECT_EQ(a.information, b.information);
    EXPECT_EQ(a.progress, b.progress);
}

TEST(SenseFormat, BothFormatsReadBackTheSameCondition) {
    Sense deferred = sense::write_protected();
    deferred.deferred = true;
    const std::vector<Sense> conditions{
        sense::invalid_opcode(),
        sense::invalid_field_in_cdb(2, 7),
        sense::invalid_field_in_cdb(300),
        sense::invalid_field_in_param(17, 3),
        sense::not_ready_sanitize_in_progress(0x8000),
        sense::not_ready_sanitize_in_progress(0),
        sense::miscompare_during_verify(0x1234),
        sense::ua_mode_parameters_changed(),
        deferred,
    };
    for (const auto& s : conditions) {
        SCOPED_TRACE(testing::Message() << std::hex << int(s.key) << "/" << int(s.asc) << "/" << int(s.ascq));
        expect_same(s, round_trip(s, encode_fixed));
        expect_same(s, round_trip(s, encode_descriptor));
    }
}

TEST(SenseFormat, DescriptorFormatCarriesA64BitInformationField) {
    const Sense s = sense::miscompare_during_verify(0x1'0000'0200ull);
    EXPECT_EQ(round_trip(s, encode_descriptor).information, 0x1'0000'0200ull);
    EXPECT_EQ(round_trip(s, encode_fixed).information, 0x200u) << "fixed format holds the low 32 bits";
}

TEST(SenseFormat, ResponseCodesSayWhichFormat) {
    std::array<std::uint8_t, 32> b{};
    ASSERT_EQ(encode_fixed(sense::invalid_lun(), b.data(), b.size()), 18);
    EXPECT_EQ(b[0], 0x70);
    EXPECT_EQ(b[2], 0x05);
    EXPECT_EQ(b[12], 0x25);
    ASSERT_EQ(encode_descriptor(sense::invalid_lun(), b.data(), b.size()), 8);
    EXPECT_EQ(b[0], 0x72);
    EXPECT_EQ(b[1], 0x05);
    EXPECT_EQ(b[2], 0x25);
}

TEST(SenseFormat, NotSenseDataIsRefused) {
    EXPECT_FALSE(decode_sense({}));
    const std::uint8_t vendor[18] = {0x7f, 0, 0x05};
    EXPECT_FALSE(decode_sense(vendor));
    const std::uint8_t zeroes[18] = {};
    EXPECT_FALSE(decode_sense(zeroes));
}

TEST(SenseFormat, ShortSenseReadsWhatIsThere) {
    std::array<std::uint8_t, 32> b{};
    encode_fixed(sense::not_ready_sanitize_in_progress(0x4000), b.data(), b.size());
    auto s = decode_sense({b.data(), 3});  // only the sense key arrived
    ASSERT_TRUE(s);
    EXPECT_EQ(s->key, sense_key::not_ready);
    EXPECT_EQ(s->asc, 0);
    EXPECT_FALSE(s->progress);
    s = decode_sense({b.data(), 14});  // ASC/ASCQ, no sense-key specific bytes
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->is(sense_key::not_ready, 0x04, 0x1b));
    EXPECT_FALSE(s->progress);

    // ADDITIONAL SENSE LENGTH bounds what is read, even if more bytes follow.
    b[7] = 4;
    s = decode_sense({b.data(), 18});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->asc, 0);
    EXPECT_FALSE(s->progress);

    // A descriptor cut short by the buffer is not read.
    encode_descriptor(sense::not_ready_sanitize_in_progress(0x4000), b.data(), b.size());
    s = decode_sense({b.data(), 14});
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->is(sense_key::not_ready, 0x04, 0x1b));
    EXPECT_FALSE(s->progress);
}

TEST(SenseFormat, DescriptorsTheDecoderDoesNotKnowAreSkipped) {
    // 72h NOT READY 04/1B, then a vendor descriptor (80h, 2 bytes), then sense-key specific progress.
    const std::uint8_t b[] = {0x72, 0x02, 0x04, 0x1b, 0, 0, 0, 12,  //
                              0x80, 0x02, 0xaa, 0xbb,                //
                              0x02, 0x06, 0, 0, 0x80, 0x12, 0x34, 0};
    const auto s = decode_sense(b);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->progress, 0x1234);
}

TEST(SenseFormat, SenseKeySpecificBytesReadAsTheKeySays) {
    // The same three bytes are a field pointer under ILLEGAL REQUEST, a progress indication under
    // NOT READY, and neither under MEDIUM ERROR (actual retry count, not modelled).
    for (const std::uint8_t key : {sense_key::illegal_request, sense_key::not_ready, sense_key::medium_error}) {
        std::uint8_t b[18] = {0x70, key, 0, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x24, 0, 0, 0xc9, 0x00, 0x05};
        b[2] = key;
        const auto s = decode_sense(b);
        ASSERT_TRUE(s);
        EXPECT_EQ(s->has_field_pointer, key == sense_key::illegal_request);
        EXPECT_EQ(s->progress.has_value(), key == sense_key::not_ready);
        if (key == sense_key::illegal_request) {
            EXPECT_TRUE(s->in_cdb);
            EXPECT_TRUE(s->bit_valid);
            EXPECT_EQ(s->bit, 1);
            EXPECT_EQ(s->field_byte, 5);
        }
    }
}

}  // namespace
}  // namespace vstor::scsi
