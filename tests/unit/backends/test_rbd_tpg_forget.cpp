// How long an RBD LUN keeps a dead gateway's target port group listed (docs/ceph.md "Every
// gateway's group"): forget_ms= in the LUN spec, else VSTOR_RBD_TPG_FORGET_MS (the environment
// variable the docs promised first), else 60 s; never below twice the staleness limit.
#include <gtest/gtest.h>

#include <cstdlib>

#include "backends/rbd/rbd_tpg_peers.hpp"

namespace vstor::backends {
namespace {

using std::chrono::milliseconds;

// Sets or clears VSTOR_RBD_TPG_FORGET_MS for one test, restoring what was there.
class ForgetEnv {
public:
    explicit ForgetEnv(const char* value) {
        if (const char* was = std::getenv(kName)) was_ = was, had_ = true;
        value ? ::setenv(kName, value, 1) : ::unsetenv(kName);
    }
    ~ForgetEnv() { had_ ? ::setenv(kName, was_.c_str(), 1) : ::unsetenv(kName); }

private:
    static constexpr const char* kName = "VSTOR_RBD_TPG_FORGET_MS";
    std::string was_;
    bool had_ = false;
};

TEST(RbdTpgForget, TheLunOptionWinsThenTheEnvironmentThenTheDefault) {
    {
        ForgetEnv env(nullptr);
        EXPECT_EQ(RbdTpgPeers::forget(), RbdTpgPeers::kForget);
        EXPECT_EQ(RbdTpgPeers::kForget, milliseconds(60000));
        EXPECT_EQ(RbdTpgPeers::forget(milliseconds(20000)), milliseconds(20000));
    }
    {
        ForgetEnv env("30000");
        EXPECT_EQ(RbdTpgPeers::forget(), milliseconds(30000));
        EXPECT_EQ(RbdTpgPeers::forget(milliseconds(20000)), milliseconds(20000));  // the LUN's own wins
    }
    {
        ForgetEnv env("1000");  // too short: a restarting gateway would be dropped
        EXPECT_EQ(RbdTpgPeers::forget(), 2 * RbdTpgPeers::kStale);
        EXPECT_EQ(RbdTpgPeers::forget(milliseconds(1000)), 2 * RbdTpgPeers::kStale);
    }
    {
        ForgetEnv env("nonsense");
        EXPECT_EQ(RbdTpgPeers::forget(), RbdTpgPeers::kForget);
    }
}

}  // namespace
}  // namespace vstor::backends
