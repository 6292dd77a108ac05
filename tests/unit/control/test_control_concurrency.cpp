// The control plane keeps answering while a change waits for its storage (issue 16): a LUN whose
// backend takes long to close (here: until the test lets it) is being removed, and through the
// control socket `status` and `stats` answer at once, another change waits for the removal (so a
// file or image removed can be added again without racing its old backend), the removal's reply
// comes only once the backend closed, and a client that pipelines gets its replies in order.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <latch>
#include <optional>
#include <thread>

#include "adapter/zero_backend.hpp"
#include "control/control_rig.hpp"
#include "control/rpc_client.hpp"

namespace vstor::control {
namespace {

using namespace std::chrono_literals;
using test::json;
using Clock = std::chrono::steady_clock;

struct Teardown {
    std::latch entered{1};
    std::atomic<bool> release{false};
    std::atomic<bool> closed{false};
};

// Its destructor waits until the test releases it (10 s at most), as an RBD backend whose
// cluster does not answer waits for its connection to close.
class SlowCloseBackend final : public vstor::test::ZeroBackend {
public:
    explicit SlowCloseBackend(std::shared_ptr<Teardown> t) : t_(std::move(t)) {}
    ~SlowCloseBackend() override {
        t_->entered.count_down();
        for (const auto until = Clock::now() + 10s; !t_->release && Clock::now() < until;)
            std::this_thread::sleep_for(1ms);
        t_->closed = true;
    }
    std::string kind() const override { return "slow-close"; }

private:
    std::shared_ptr<Teardown> t_;
};

// A raw client of the control socket: sends text as it is (several requests at once) and reads
// reply lines with a timeout.
class RawClient {
public:
    explicit RawClient(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~RawClient() { ::close(fd_); }
    bool connected() const { return connected_; }
    bool send(const std::string& text) {
        return ::write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    }
    // The next reply line, or nullopt if none came within `wait`.
    std::optional<json> reply(std::chrono::milliseconds wait) {
        const auto until = Clock::now() + wait;
        for (;;) {
            if (const auto nl = buf_.find('\n'); nl != std::string::npos) {
                auto line = buf_.substr(0, nl);
                buf_.erase(0, nl + 1);
                return json::parse(line);
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
            pollfd p{fd_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
            char chunk[4096];
            const auto n = ::read(fd_, chunk, sizeof chunk);
            if (n <= 0) return std::nullopt;
            buf_.append(chunk, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_;
    bool connected_ = false;
    std::string buf_;
};

std::string request(int id, const std::string& method, const json& params = json::object()) {
    return json{{"jsonrpc", "2.0"}, {"id", id}, {"method", method}, {"params", params}}.dump() + "\n";
}

class ControlConcurrency : public test::ControlRig {
protected:
    void SetUp() override {
        const auto name = "vstor-ctlc-" + std::to_string(::getpid()) + ".sock";
        path = (std::filesystem::temp_directory_path() / name).string();
        start("iqn.2026-12.org.vstor:conc", "mem:32K", Portal::none, std::make_shared<SlowCloseBackend>(teardown));
    }
    void TearDown() override {
        teardown->release = true;  // whatever failed, the backend may close now
        ControlRig::TearDown();
    }
    std::shared_ptr<Teardown> teardown = std::make_shared<Teardown>();
    std::string path;
};

TEST_F(ControlConcurrency, StatusAnswersWhileARemovalWaitsForItsBackend) {
    std::string err;
    auto rpc = RpcServer::start(path, *service, err);
    ASSERT_TRUE(rpc) << err;
    RawClient remover(path), changer(path);
    ASSERT_TRUE(remover.connected() && changer.connected());
    // Pipelined on one connection: the removal, then a read-only call that must wait its turn.
    ASSERT_TRUE(remover.send(request(1, "lun.remove", {{"lun", 0}}) + request(2, "status")));
    for (int i = 0; i < 500 && !teardown->entered.try_wait(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_TRUE(teardown->entered.try_wait()) << "the removal did not reach the backend's teardown";

    // Other clients meanwhile: status and stats answer at once, and the LUN is gone from them.
    const auto t0 = Clock::now();
    const auto status = call_control(path, "status", json::object());
    const auto status_ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    ASSERT_TRUE(status.result) << status.error;
    EXPECT_LT(status_ms, 1000) << "status waited for the removal";
    EXPECT_TRUE((*status.result)["targets"][0]["luns"].empty()) << status.result->dump();
    EXPECT_TRUE(call_control(path, "stats", json::object()).result);
    std::printf("status during a pending removal: %lld ms\n", static_cast<long long>(status_ms));
    // A change waits: the same LUN added again must not open its storage before the old closed.
    ASSERT_TRUE(changer.send(request(7, "lun.add", {{"spec", "mem:32K"}, {"lun", 0}})));
    EXPECT_FALSE(changer.reply(300ms)) << "a change ran while another one waited for its backend";
    EXPECT_FALSE(remover.reply(10ms)) << "lun.remove answered before its backend closed";

    teardown->release = true;
    const auto removed = remover.reply(5s);
    ASSERT_TRUE(removed);
    EXPECT_TRUE(teardown->closed) << "lun.remove answered before its backend closed";
    EXPECT_EQ((*removed)["id"], 1);
    EXPECT_EQ((*removed)["result"]["lun"], 0) << removed->dump();
    const auto second = remover.reply(5s);  // the pipelined status, after the removal's reply
    ASSERT_TRUE(second);
    EXPECT_EQ((*second)["id"], 2);
    EXPECT_TRUE((*second).contains("result")) << second->dump();
    const auto added = changer.reply(5s);
    ASSERT_TRUE(added);
    EXPECT_EQ((*added)["result"]["lun"], 0) << added->dump();
    rpc->stop();
}

// Calls from many threads at once, read-only and changes mixed, all through ControlService::call
// (TSan checks the locking): every call answers and the plan ends as the changes left it.
TEST_F(ControlConcurrency, CallsFromManyThreadsAtOnce) {
    teardown->release = true;
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            const auto lun = static_cast<std::uint16_t>(10 + t);
            for (int i = 0; i < 20; ++i) {
                try {
                    call("status");
                    call("stats");
                    call("lun.add", {{"spec", "mem:32K"}, {"lun", lun}});
                    call("lun.set_ro", {{"lun", lun}, {"read_only", true}});
                    call("lun.remove", {{"lun", lun}});
                    service->render_config();
                } catch (const std::exception&) {
                    ++failed;
                }
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(failed, 0);
    const auto luns = call("status")["targets"][0]["luns"];
    ASSERT_EQ(luns.size(), 1u);  // LUN 0 alone, as before
    EXPECT_EQ(luns[0]["lun"], 0);
}

// `target remove` of a target whose LUNs all take long to close (an RBD cluster that died: 10 s
// each) closes them side by side: every backend is in its teardown before any is let go, and the
// call answers once all of them closed.
class TargetRemoval : public test::ControlRig {
protected:
    void SetUp() override {
        start("iqn.2026-12.org.vstor:rm", "mem:32K", Portal::none, std::make_shared<SlowCloseBackend>(t[0]),
              {std::make_shared<SlowCloseBackend>(t[1]), std::make_shared<SlowCloseBackend>(t[2])});
    }
    void TearDown() override {
        for (auto& x : t) x->release = true;
        ControlRig::TearDown();
    }
    std::array<std::shared_ptr<Teardown>, 3> t{std::make_shared<Teardown>(), std::make_shared<Teardown>(),
                                               std::make_shared<Teardown>()};
};

TEST_F(TargetRemoval, ClosesItsLunsSideBySide) {
    ASSERT_EQ(call("status")["targets"][0]["luns"].size(), 3u);
    std::optional<json> reply;
    std::string error;
    std::atomic<bool> answered{false};
    std::jthread remover([&] {
        try {
            reply = call("target.remove", {{"name", "iqn.2026-12.org.vstor:rm"}, {"force", true}});
        } catch (const std::exception& e) {
            error = e.what();
        }
        answered = true;
    });
    const auto entered = [&] {
        return std::all_of(t.begin(), t.end(), [](const auto& x) { return x->entered.try_wait(); });
    };
    for (int i = 0; i < 500 && !entered(); ++i) std::this_thread::sleep_for(10ms);
    int in_teardown = 0;
    for (const auto& x : t) in_teardown += x->entered.try_wait();
    EXPECT_EQ(in_teardown, 3) << "the LUNs were closed one after another";
    EXPECT_FALSE(answered) << "target.remove answered before its LUNs closed";
    for (auto& x : t) x->release = true;
    remover.join();
    ASSERT_TRUE(reply) << error;
    EXPECT_EQ((*reply)["target"], "iqn.2026-12.org.vstor:rm");
    for (const auto& x : t) EXPECT_TRUE(x->closed);
    EXPECT_TRUE(call("status")["targets"].empty());
}

}  // namespace
}  // namespace vstor::control
