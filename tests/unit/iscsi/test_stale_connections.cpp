// An initiator that drops its connection and logs in again at once finds its old I_T nexus gone,
// and with it the PREVENT MEDIUM REMOVAL it held, even when the loop of the old connection has
// not run since (connection_settle.cpp). This is libiscsi's PreventAllow.ITNexusLoss on a busy
// machine, where the new session's START STOP UNIT came before the old loop saw the stream end.
#include <gtest/gtest.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "backends/mem/mem_backend.hpp"
#include "live_server.hpp"
#include "raw_initiator.hpp"

namespace vstor::iscsi {
namespace {

using namespace std::chrono_literals;
using test::login_status;
using test::LiveServerTest;
using test::RawInitiator;

constexpr const char* kStaleIqn = "iqn.2026-12.org.vstor:stale";

// A LUN whose READ blocks the thread that submits it (the connection's loop) until released.
class LoopBlocker final : public Backend {
public:
    std::string kind() const override { return "blocker"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 2048; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::unique_lock lk(mu_);
        entered_ = true;
        cv_.notify_all();
        cv_.wait(lk, [this] { return released_; });
        std::memset(buf.data(), 0, buf.size());
        lk.unlock();
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }

    bool wait_entered() {
        std::unique_lock lk(mu_);
        return cv_.wait_for(lk, 5s, [this] { return entered_; });
    }
    void release() {
        std::lock_guard lk(mu_);
        released_ = true;
        cv_.notify_all();
    }

private:
    std::mutex mu_;
    std::condition_variable cv_;
    bool entered_ = false, released_ = false;
};

// The server's log lines, which a test thread can wait for while the server writes more.
class WatchedLog final : public spdlog::sinks::base_sink<std::mutex> {
public:
    bool wait_for(const std::string& text, std::chrono::milliseconds limit) {
        std::unique_lock lk(lines_mu_);
        return seen_.wait_for(lk, limit, [&] { return all_.find(text) != std::string::npos; });
    }
    std::string text() {
        std::lock_guard lk(lines_mu_);
        return all_;
    }

protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
        std::lock_guard lk(lines_mu_);
        all_.append(msg.payload.data(), msg.payload.size()).push_back('\n');
        seen_.notify_all();
    }
    void flush_() override {}

private:
    std::mutex lines_mu_;
    std::condition_variable seen_;
    std::string all_;
};

class StaleConnections : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        const auto tid = add_target(cfg, kStaleIqn);
        LunOptions removable;
        removable.removable = true;
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(1u << 20), removable));
        ASSERT_TRUE(adapter->add_lun(tid, 1, blocker));
        cfg.event_loops = 2;
        start_server(cfg);
    }
    void TearDown() override {
        blocker->release();
        LiveServerTest::TearDown();
    }

    // The SCSI status of the command's response (0xff when none came).
    static std::uint8_t status_of(RawInitiator& ini, std::uint32_t itt) {
        for (auto r = ini.next(); r; r = ini.next())
            if (r->opcode() == op::scsi_response && r->itt() == itt) return r->bhs[3];
        return 0xff;
    }

    // TEST UNIT READY until GOOD: a new nexus may have a unit attention to report first.
    static bool ready(RawInitiator& ini) {
        for (std::uint32_t itt = 100; itt < 104; ++itt)
            if (ini.command(itt, 0, {0, 0, 0, 0, 0, 0}) && status_of(ini, itt) == 0) return true;
        return false;
    }

    std::shared_ptr<LoopBlocker> blocker = std::make_shared<LoopBlocker>();
};

const std::vector<std::uint8_t> kPrevent{0x1e, 0, 0, 0, 1, 0};    // PREVENT ALLOW MEDIUM REMOVAL, prevent
const std::vector<std::uint8_t> kEject{0x1b, 0, 0, 0, 0x02, 0};   // START STOP UNIT, LOEJ, stop: eject
const std::vector<std::uint8_t> kRead{0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};  // READ(10), one block

TEST_F(StaleConnections, ALoginAfterADroppedConnectionFindsItsPreventGone) {
    // Connections go to the two loops in turn, and the first loop also accepts: the spacers put
    // the old connection and the one that blocks its loop on the second loop, the new one on the
    // first.
    RawInitiator spacer(port);
    auto old_conn = std::make_unique<RawInitiator>(port);
    RawInitiator spacer2(port);
    RawInitiator holder(port);
    ASSERT_TRUE(spacer.connected() && spacer2.connected());
    auto r = old_conn->login(kStaleIqn, {}, 1);
    ASSERT_TRUE(r && login_status(*r) == 0);
    ASSERT_TRUE(ready(*old_conn));
    ASSERT_TRUE(old_conn->command(1, 0, kPrevent));
    ASSERT_EQ(status_of(*old_conn, 1), 0) << "PREVENT";
    ASSERT_TRUE(old_conn->command(2, 0, kEject));
    ASSERT_EQ(status_of(*old_conn, 2), 2) << "the eject is refused while removal is prevented";
    r = holder.login(kStaleIqn, {}, 3);
    ASSERT_TRUE(r && login_status(*r) == 0);
    // The second loop is held inside the holder's READ, then the initiator drops the old
    // connection, which that loop cannot see while it is held.
    ASSERT_TRUE(holder.command(1, 1, kRead, 512));
    ASSERT_TRUE(blocker->wait_entered());
    old_conn.reset();

    // The new login waits for the held loop, released here once the login waits: the settle it
    // posted there runs before that loop polls its sockets again, so the close is the settle's.
    auto log = std::make_shared<WatchedLog>();
    auto previous = spdlog::default_logger();
    auto capture = std::make_shared<spdlog::logger>("capture", log);
    capture->set_level(spdlog::level::debug);
    spdlog::set_default_logger(capture);
    std::thread releaser([this, log] {
        log->wait_for("login waits for", 5s);
        blocker->release();
    });
    auto fresh = std::make_unique<RawInitiator>(port);
    r = fresh->login(kStaleIqn, {}, 2);
    const bool logged_in = r && login_status(*r) == 0;
    std::uint8_t eject = 0xff;
    if (logged_in && ready(*fresh) && fresh->command(1, 0, kEject)) eject = status_of(*fresh, 1);
    releaser.join();
    spdlog::set_default_logger(previous);
    ASSERT_TRUE(logged_in);
    EXPECT_EQ(eject, 0) << "the dropped connection's PREVENT still held the medium";
    EXPECT_NE(log->text().find("dropped this connection before its new login"), std::string::npos) << log->text();
    EXPECT_FALSE(holder.closed_within(100ms)) << "a connection still open is left open";
}

TEST_F(StaleConnections, ALiveSessionOfTheSameInitiatorKeepsItsPrevent) {
    auto first = std::make_unique<RawInitiator>(port);
    auto r = first->login(kStaleIqn, {}, 1);
    ASSERT_TRUE(r && login_status(*r) == 0);
    ASSERT_TRUE(ready(*first));
    ASSERT_TRUE(first->command(1, 0, kPrevent));
    ASSERT_EQ(status_of(*first, 1), 0);
    auto second = std::make_unique<RawInitiator>(port);
    r = second->login(kStaleIqn, {}, 2);
    ASSERT_TRUE(r && login_status(*r) == 0);
    ASSERT_TRUE(ready(*second));
    ASSERT_TRUE(second->command(1, 0, kEject));
    EXPECT_EQ(status_of(*second, 1), 2) << "a session still connected keeps its nexus";
    EXPECT_FALSE(first->closed_within(200ms));
}

}  // namespace
}  // namespace vstor::iscsi
