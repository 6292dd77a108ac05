// An Adapter that goes away lets go of its LUNs together: backends that wait for their storage on
// the way out (an RBD LUN on a cluster that does not answer waits up to 10 s) then wait at the
// same time, and a shutdown takes as long as the slowest one, not their sum. Public API only.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include "adapter/zero_backend.hpp"
#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

// How many backends are inside their destructor at once.
struct Meeting {
    std::mutex mu;
    std::condition_variable cv;
    int inside = 0;
    int most = 0;
    int gone = 0;
};

class SlowToCloseBackend final : public ZeroBackend {
public:
    SlowToCloseBackend(std::shared_ptr<Meeting> m, int expected) : m_(std::move(m)), expected_(expected) {}
    // Waits (at most 5 s) until every backend of the test is inside its destructor: one after
    // another, the first would wait alone.
    ~SlowToCloseBackend() override {
        std::unique_lock lk(m_->mu);
        m_->most = std::max(m_->most, ++m_->inside);
        m_->cv.notify_all();
        m_->cv.wait_for(lk, std::chrono::seconds(5), [&] { return m_->most >= expected_; });
        --m_->inside;
        ++m_->gone;
    }
    std::string kind() const override { return "slow-to-close"; }

private:
    std::shared_ptr<Meeting> m_;
    const int expected_;
};

TEST(AdapterReleaseLuns, BackendsOfEveryTargetCloseTogether) {
    auto meeting = std::make_shared<Meeting>();
    constexpr int kLuns = 5;
    auto adapter = Adapter::create();
    const auto t1 = adapter->add_target("iqn.2026-12.org.vstor:one");
    const auto t2 = adapter->add_target("iqn.2026-12.org.vstor:two");
    ASSERT_TRUE(t1 && t2);
    for (int i = 0; i < kLuns; ++i) {
        const auto st = adapter->add_lun(i < 3 ? *t1.value : *t2.value, static_cast<std::uint16_t>(i),
                                         std::make_shared<SlowToCloseBackend>(meeting, kLuns));
        ASSERT_TRUE(st) << st.error;
    }
    const auto t0 = std::chrono::steady_clock::now();
    adapter.reset();
    const auto took = std::chrono::steady_clock::now() - t0;
    std::lock_guard lk(meeting->mu);
    EXPECT_EQ(meeting->gone, kLuns);  // every backend was destroyed before the adapter was gone
    EXPECT_EQ(meeting->most, kLuns) << "backends closed one after another";
    EXPECT_LT(took, std::chrono::seconds(4));
}

TEST(AdapterReleaseLuns, ARemovedLunStillClosesOnRemove) {
    auto meeting = std::make_shared<Meeting>();
    auto adapter = Adapter::create();
    const auto t = adapter->add_target("iqn.2026-12.org.vstor:one");
    ASSERT_TRUE(t);
    ASSERT_TRUE(adapter->add_lun(*t.value, 0, std::make_shared<SlowToCloseBackend>(meeting, 1)));
    ASSERT_TRUE(adapter->remove_lun(*t.value, 0));
    std::lock_guard lk(meeting->mu);
    EXPECT_EQ(meeting->gone, 1);  // on the caller's thread, before remove_lun returned
}

}  // namespace
}  // namespace vstor::test
