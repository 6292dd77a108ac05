// `vstor ctl` against a server that has claimed its socket but does not answer yet (it is still
// building its LUNs, which may wait for a cluster): the call says after a while that it waits, and
// a --timeout ends it with an error that says why, instead of waiting as long as the server does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>

#include "control/rpc_client.hpp"
#include "control/rpc_server.hpp"

namespace vstor::control {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::filesystem::path socket_path(const char* name) {
    return std::filesystem::temp_directory_path() / (std::string("vstor-ctlwait-") + name + "-" + std::to_string(::getpid()));
}

// Options whose notice counts into `notices`.
CallOptions counting(std::atomic<int>& notices, std::chrono::milliseconds timeout, std::chrono::milliseconds notice) {
    CallOptions opt;
    opt.timeout = timeout;
    opt.notice_after = notice;
    opt.on_waiting = [&notices] { ++notices; };
    return opt;
}

TEST(ControlClientWait, TimeoutEndsACallTheServerDoesNotAnswer) {
    const auto path = socket_path("bound").string();
    std::string err;
    auto bound = RpcServer::bind(path, err);  // claimed, not served: connections wait in the backlog
    ASSERT_TRUE(bound) << err;
    std::atomic<int> notices{0};
    const auto opt = counting(notices, 600ms, 150ms);
    const auto t0 = Clock::now();
    const auto r = call_control(path, "lun.remove", {{"lun", 1}}, opt);
    const auto took = Clock::now() - t0;
    EXPECT_FALSE(r.result);
    EXPECT_TRUE(r.timed_out);
    EXPECT_EQ(notices.load(), 1);
    EXPECT_GE(took, 600ms);
    EXPECT_LT(took, 5s);
    EXPECT_NE(r.error.find("no answer from the control socket " + path + " within 0.6 s"), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("may still be made"), std::string::npos) << r.error;
    bound->stop();
}

TEST(ControlClientWait, NoServerIsAConnectionErrorAtOnce) {
    const auto path = socket_path("none").string();
    std::error_code ec;
    std::filesystem::remove(path, ec);
    std::atomic<int> notices{0};
    const auto opt = counting(notices, 5s, 2s);
    // No server: refused at once, as a connection error, neither a notice nor a timeout.
    const auto t0 = Clock::now();
    const auto r = call_control(path, "status", nlohmann::json::object(), opt);
    EXPECT_LT(Clock::now() - t0, 1s);
    EXPECT_FALSE(r.result);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(notices.load(), 0);
    EXPECT_NE(r.error.find("cannot connect to the control socket"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace vstor::control
