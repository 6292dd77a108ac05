// Adapter::flush_all_within: the final flush of a shutdown starts every LUN's flush at once and
// waits at most so long, or until asked to stop; a backend that never answers (an RBD image whose
// cluster is gone) is named in the log and the call returns false instead of hanging. Public API.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <sstream>
#include <stop_token>
#include <thread>

#include "adapter/zero_backend.hpp"
#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The flushes a test holds: each backend's callback waits here until the test answers it.
struct HeldFlushes {
    std::mutex mu;
    std::vector<IoCallback> waiting;
    std::size_t count() {
        std::lock_guard lk(mu);
        return waiting.size();
    }
    void answer_all(IoStatus st) {
        std::vector<IoCallback> now;
        {
            std::lock_guard lk(mu);
            now.swap(waiting);
        }
        for (auto& cb : now) cb(st);
    }
};

// A backend with a volatile cache whose flush answers only when the test says so (or never).
class HeldFlushBackend final : public ZeroBackend {
public:
    explicit HeldFlushBackend(std::shared_ptr<HeldFlushes> held) : held_(std::move(held)) {}
    std::string kind() const override { return "held-flush"; }
    BackendCaps caps() const override {
        BackendCaps c;
        c.write_cache = true;
        return c;
    }
    void flush(IoCallback done) override {
        std::lock_guard lk(held_->mu);
        held_->waiting.push_back(std::move(done));
    }

private:
    std::shared_ptr<HeldFlushes> held_;
};

// A backend whose flush fails with a message, inline.
class FailingFlushBackend final : public ZeroBackend {
public:
    void flush(IoCallback done) override { done(IoStatus::medium_error, "the disk went away"); }
};

class FinalFlushTest : public ::testing::Test {
protected:
    void SetUp() override {
        previous = spdlog::default_logger();
        spdlog::set_default_logger(
            std::make_shared<spdlog::logger>("capture", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
        adapter = Adapter::create();
        auto t = adapter->add_target("iqn.2026-12.org.vstor:final-flush");
        ASSERT_TRUE(static_cast<bool>(t.value));
        tid = *t.value;
    }
    void TearDown() override {
        adapter.reset();
        spdlog::set_default_logger(previous);
    }
    void add(std::uint16_t lun, std::shared_ptr<Backend> b) {
        ASSERT_TRUE(static_cast<bool>(adapter->add_lun(tid, lun, std::move(b), LunOptions{})));
    }
    std::string logged() {
        spdlog::default_logger()->flush();
        return log.str();
    }

    std::ostringstream log;
    std::shared_ptr<spdlog::logger> previous;
    std::unique_ptr<Adapter> adapter;
    std::uint16_t tid = 0;
    std::shared_ptr<HeldFlushes> held = std::make_shared<HeldFlushes>();
};

TEST_F(FinalFlushTest, AFlushThatNeverAnswersIsGivenUpOnAfterTheLimit) {
    add(0, std::make_shared<ZeroBackend>());
    add(1, std::make_shared<HeldFlushBackend>(held));
    const auto t0 = Clock::now();
    EXPECT_FALSE(adapter->flush_all_within(300ms));
    const auto waited = Clock::now() - t0;
    EXPECT_GE(waited, 300ms);
    EXPECT_LT(waited, 5s);
    const auto text = logged();
    EXPECT_NE(text.find("iqn.2026-12.org.vstor:final-flush LUN 1: the final flush has not finished after"),
              std::string::npos)
        << text;
    EXPECT_EQ(text.find("LUN 0:"), std::string::npos) << text;  // the one that answered is not named
    EXPECT_EQ(text.find("asked not to wait"), std::string::npos) << text;

    // The late answer, after the call returned and the adapter is gone, touches nothing of theirs.
    adapter.reset();
    held->answer_all(IoStatus::ok);
}

TEST_F(FinalFlushTest, AStopRequestEndsTheWaitAtOnce) {
    add(0, std::make_shared<HeldFlushBackend>(held));
    std::stop_source second_ctrl_c;
    std::jthread asker([&] {
        std::this_thread::sleep_for(200ms);
        second_ctrl_c.request_stop();
    });
    const auto t0 = Clock::now();
    EXPECT_FALSE(adapter->flush_all_within(std::chrono::hours(1), second_ctrl_c.get_token()));
    EXPECT_LT(Clock::now() - t0, 10s);
    const auto text = logged();
    EXPECT_NE(text.find("LUN 0: the final flush has not finished after"), std::string::npos) << text;
    EXPECT_NE(text.find("(asked not to wait any longer)"), std::string::npos) << text;
    held->answer_all(IoStatus::ok);
}

// The flushes run at once: every backend is asked before any answers (one after another, the
// second would be asked only once the first answered, and a shutdown would wait for the sum).
TEST_F(FinalFlushTest, EveryFlushStartsBeforeAnyAnswers) {
    for (std::uint16_t lun = 0; lun < 3; ++lun) add(lun, std::make_shared<HeldFlushBackend>(held));
    std::size_t asked_before_any_answer = 0;
    std::jthread answerer([&] {
        const auto deadline = Clock::now() + 5s;
        while (held->count() < 3 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
        asked_before_any_answer = held->count();
        held->answer_all(IoStatus::ok);  // all three asked, or the bound passed: answer what was
    });
    EXPECT_TRUE(adapter->flush_all_within(10s));
    answerer.join();
    EXPECT_EQ(asked_before_any_answer, 3u);
    EXPECT_EQ(logged().find("final flush"), std::string::npos) << logged();
}

TEST_F(FinalFlushTest, AnswersWithinTheLimitAreWaitedFor) {
    add(0, std::make_shared<HeldFlushBackend>(held));
    std::jthread answerer([&] {
        std::this_thread::sleep_for(300ms);
        held->answer_all(IoStatus::ok);
    });
    EXPECT_TRUE(adapter->flush_all_within(30s));
    answerer.join();
    std::jthread again([&] {
        std::this_thread::sleep_for(300ms);
        held->answer_all(IoStatus::ok);
    });
    EXPECT_TRUE(adapter->flush_all());  // unbounded
}

TEST_F(FinalFlushTest, AFailedFlushIsNamedWithItsReason) {
    add(0, std::make_shared<ZeroBackend>());
    add(2, std::make_shared<FailingFlushBackend>());
    EXPECT_FALSE(adapter->flush_all_within(30s));
    const auto text = logged();
    EXPECT_NE(text.find("LUN 2: the final flush failed (medium error: the disk went away)"), std::string::npos)
        << text;
    EXPECT_FALSE(adapter->flush_all());
}

}  // namespace
}  // namespace vstor::test
