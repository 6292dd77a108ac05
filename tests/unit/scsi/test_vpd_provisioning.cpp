// The Logical Block Provisioning VPD page (B2h) says what READ CAPACITY(16) says: a thin LUN has
// LBPRZ = 001b in byte 5 bits 4:2 (unmapped blocks read as zeroes) and provisioning type 010b in
// byte 6 bits 2:0, with MINIMUM PERCENTAGE (byte 6 bits 7:3) zero.
#include "engine_fixture.hpp"

namespace vstor::test {
namespace {

class VpdProvisioningTest : public EngineTest {};

TEST_F(VpdProvisioningTest, ThinLunReportsLbprzWhereSbc4PutsIt) {
    const auto b2 = send({0x12, 1, 0xb2, 0, 64, 0}, 0, 64);
    ASSERT_EQ(b2.status(), 0);
    ASSERT_GE(b2.data.size(), 8u);
    EXPECT_EQ(b2.data[1], 0xb2);
    EXPECT_EQ(b2.data[5] & 0xe0, 0xe0);            // LBPU, LBPWS, LBPWS10
    EXPECT_EQ((b2.data[5] >> 2) & 0x07, 1);        // LBPRZ = 001b
    EXPECT_EQ(b2.data[5] & 0x03, 0);               // ANC_SUP, DP
    EXPECT_EQ(b2.data[6] & 0x07, 2);               // thin provisioned
    EXPECT_EQ(b2.data[6] >> 3, 0);                 // MINIMUM PERCENTAGE: none
    const auto rc16 = send({0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0}, 0, 32);
    ASSERT_EQ(rc16.status(), 0);
    EXPECT_EQ(rc16.data[14] & 0xc0, 0xc0);         // LBPME, LBPRZ: the same answer
}

}  // namespace
}  // namespace vstor::test
