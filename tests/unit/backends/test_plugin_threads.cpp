// The thread model a plugin declares is enforced, and its callbacks run on vstor's workers, never
// on the thread that submitted the command (a network loop in a server). The probe plugin
// (tests/plugins/probe_plugin.c, one build per model) counts its callbacks in flight.
#include <dlfcn.h>
#include <pthread.h>

#include <thread>

#include "spec_backend.hpp"
#include "vstor/plugin.h"

namespace vstor::test {
namespace {

struct Seen {
    int all = 0, one_handle = 0, calls = 0, on_submitter = 0;
};

class PluginThreadsTest : public SpecBackendTest, public ::testing::WithParamInterface<int> {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        path = std::string(VSTOR_TEST_PLUGIN_DIR) + "/probe_plugin_" + std::to_string(GetParam()) + ".so";
        for (std::uint16_t lun : {1, 2}) add_spec(lun, "plugin", path, {}, false);
        clear_ua(1);  // after both: adding LUN 2 raises a unit attention on LUN 1 too
        clear_ua(2);
        // The object vstor loaded: dlopen of the same path returns it, with its counters.
        so = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
        ASSERT_TRUE(so) << dlerror();
        reset = reinterpret_cast<void (*)(pthread_t)>(dlsym(so, "probe_reset"));
        stats = reinterpret_cast<void (*)(int*, int*, int*, int*)>(dlsym(so, "probe_stats"));
        ASSERT_TRUE(reset && stats);
    }
    void TearDown() override {
        if (so) dlclose(so);
        EngineTest::TearDown();
    }
    Seen seen() const {
        Seen s;
        stats(&s.all, &s.one_handle, &s.calls, &s.on_submitter);
        return s;
    }

    std::string path;
    void* so = nullptr;
    void (*reset)(pthread_t) = nullptr;
    void (*stats)(int*, int*, int*, int*) = nullptr;
};

TEST_P(PluginThreadsTest, CallbacksRunOffTheSubmittingThread) {
    reset(pthread_self());
    auto r = send({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 1, 512);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, std::vector<std::uint8_t>(512, 0x5a));
    EXPECT_EQ(seen().calls, 1);
    EXPECT_EQ(seen().on_submitter, 0);
    // No identity callback: the product is the plugin's name by kind.
    auto inq = send({0x12, 0, 0, 0, 96, 0}, 1, 96);
    EXPECT_EQ(std::string(inq.data.begin() + 16, inq.data.begin() + 32), "PROBE-DISK      ");
}

TEST_P(PluginThreadsTest, ThreadModelIsEnforced) {
    reset(pthread_self());
    read_at_once();
    const Seen s = seen();
    EXPECT_EQ(s.calls, 12);
    switch (GetParam()) {
        case VSTOR_THREAD_MODEL_SERIALIZE_ALL:
            EXPECT_EQ(s.all, 1);  // one callback at a time across both LUNs
            break;
        case VSTOR_THREAD_MODEL_SERIALIZE_REQUESTS:
            EXPECT_EQ(s.one_handle, 1);  // one at a time per LUN...
            EXPECT_EQ(s.all, 2);         // ...but the two LUNs at once
            break;
        default:
            EXPECT_GT(s.one_handle, 1);  // PARALLEL: several on one LUN
            break;
    }
}

INSTANTIATE_TEST_SUITE_P(Models, PluginThreadsTest,
                         ::testing::Values(VSTOR_THREAD_MODEL_SERIALIZE_ALL, VSTOR_THREAD_MODEL_SERIALIZE_REQUESTS,
                                           VSTOR_THREAD_MODEL_PARALLEL),
                         thread_model_name);

}  // namespace
}  // namespace vstor::test
