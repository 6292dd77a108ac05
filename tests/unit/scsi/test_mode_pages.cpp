// SPC-5 MODE SENSE/MODE SELECT: D_SENSE switches sense format, bad parameter lists are refused.
#include "scsi/engine_fixture.hpp"

namespace vstor::test {
namespace {

class ModePages : public EngineTest {};

TEST_F(ModePages, ModeSelectSetsDSenseAndOtherNexusGetsUnitAttention) {
    auto other = adapter->open_nexus(tid, "iqn.x:other,i,0x2");
    auto cur = send({0x1a, 0x08, 0x0a, 0, 255, 0}, 0, 255);  // MODE SENSE(6), DBD, control page
    ASSERT_EQ(cur.status(), 0);
    ASSERT_GE(cur.data.size(), 16u);
    std::vector<std::uint8_t> param(4, 0);
    param.insert(param.end(), cur.data.begin() + 4, cur.data.begin() + 16);
    param[4 + 2] |= 0x04;  // D_SENSE
    ASSERT_EQ(send({0x15, 0x10, 0, 0, static_cast<std::uint8_t>(param.size()), 0}, 0, 0, param).status(), 0);
    auto bad = send({0x28, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0}, 0, 512);
    EXPECT_EQ(bad.c.sense[0], 0x72);  // descriptor format now
    EXPECT_EQ(bad.key(), 0x5);
    auto ua = send({0x00, 0, 0, 0, 0, 0}, 0, 0, {}, other);
    EXPECT_EQ(ua.key(), 0x6);
    EXPECT_EQ(ua.asc(), 0x2a);
    EXPECT_EQ(ua.ascq(), 0x01);
}

TEST_F(ModePages, ChangingANonChangeableBitPointsAtIt) {
    auto cur = send({0x1a, 0x08, 0x08, 0, 255, 0}, 0, 255);  // caching page
    ASSERT_EQ(cur.status(), 0);
    std::vector<std::uint8_t> param(4, 0);
    param.insert(param.end(), cur.data.begin() + 4, cur.data.begin() + 24);
    param[4 + 3] ^= 0x80;  // byte 3 of the page is not changeable
    auto r = send({0x15, 0x10, 0, 0, static_cast<std::uint8_t>(param.size()), 0}, 0, 0, param);
    EXPECT_EQ(r.asc(), 0x26);
    EXPECT_EQ(r.field_pointer().first, 7);
}

// Found by fuzz_scsi_cdb: LONGLBA with a block descriptor list shorter than one long descriptor.
TEST_F(ModePages, ShortLongLbaBlockDescriptorIsRefused) {
    std::vector<std::uint8_t> param = {0, 0, 0, 0, 1 /* LONGLBA */, 0, 0, 8, 0, 0, 0, 0, 0, 0, 2, 0};
    auto r = send({0x55, 0x10, 0, 0, 0, 0, 0, 0, 16, 0}, 0, 0, param);
    EXPECT_EQ(r.key(), 0x5);
    EXPECT_EQ(r.asc(), 0x26);
}

TEST_F(ModePages, SavedValuesAreNotSupported) {
    auto r = send({0x1a, 0, 0xc8, 0, 255, 0}, 0, 255);
    EXPECT_EQ(r.asc(), 0x39);
}

}  // namespace
}  // namespace vstor::test
