// The port-group registry entry of an RBD LUN (backends/rbd/rbd_tpg_entry.hpp): what a gateway
// writes next to the image for the others, and what it accepts back from the cluster.
#include <gtest/gtest.h>

#include <string>

#include "backends/rbd/rbd_tpg_entry.hpp"

namespace vstor::backends {
namespace {

TEST(RbdTpgEntry, EncodesOneReadableLine) {
    TpgEntry e{2, AccessState::active_non_optimized, 41, {2, 3}};
    EXPECT_EQ(encode_tpg_entry(e), "vstor-tpg 1 group=2 state=an seq=41 ports=2,3");
    EXPECT_EQ(tpg_entry_key(2), "tpg.00002");
    EXPECT_EQ(tpg_entry_key(65535), "tpg.65535");
    e.ports.clear();  // published before an initiator connected
    e.state = AccessState::transitioning;
    EXPECT_EQ(encode_tpg_entry(e), "vstor-tpg 1 group=2 state=t seq=41 ports=");
}

TEST(RbdTpgEntry, EveryStateRoundTrips) {
    for (auto st : {AccessState::active_optimized, AccessState::active_non_optimized, AccessState::standby,
                    AccessState::unavailable, AccessState::transitioning}) {
        const TpgEntry e{65535, st, 18446744073709551615ull, {1, 7, 65535}};
        std::string error;
        const auto back = parse_tpg_entry(encode_tpg_entry(e), error);
        ASSERT_TRUE(back) << error;
        EXPECT_EQ(*back, e);
    }
}

TEST(RbdTpgEntry, RefusesWhatIsNotExactlyTheFormat) {
    for (const char* bad : {
             "",
             "vstor-tpg 2 group=2 state=an seq=1 ports=2",       // another version
             "vstor-tpg 1 group=0 state=an seq=1 ports=2",       // group 0
             "vstor-tpg 1 group=65536 state=an seq=1 ports=2",   // out of range
             "vstor-tpg 1 group=02 state=an seq=1 ports=2",      // a second spelling
             "vstor-tpg 1 group=2 state=xx seq=1 ports=2",       // unknown state
             "vstor-tpg 1 group=2 state=an seq=-1 ports=2",      // negative
             "vstor-tpg 1 group=2 state=an seq=1 ports=3,2",     // not ascending
             "vstor-tpg 1 group=2 state=an seq=1 ports=2,2",     // twice
             "vstor-tpg 1 group=2 state=an seq=1 ports=0",       // port 0
             "vstor-tpg 1 group=2 state=an seq=1 ports=2,",      // empty item
             "vstor-tpg 1 group=2 state=an seq=1 ports=2 x=1",   // trailing field
             "vstor-tpg 1 state=an group=2 seq=1 ports=2",       // order
             "vstor-tpg 1 group=2 state=an seq=1",               // missing ports
         }) {
        std::string error;
        EXPECT_FALSE(parse_tpg_entry(bad, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
    }
    std::string many = "vstor-tpg 1 group=2 state=an seq=1 ports=";
    for (int p = 1; p <= 256; ++p) many += (p > 1 ? "," : "") + std::to_string(p);
    std::string error;
    EXPECT_FALSE(parse_tpg_entry(many, error));  // more ports than RTPG can list
}

}  // namespace
}  // namespace vstor::backends
