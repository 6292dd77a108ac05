// The write buffer budget on NBD: a connection whose WRITE payloads in flight use up its share
// (or the server's total) reads no further request until one finishes, then resumes by itself;
// nothing is refused or lost. Writes are held in the backend by a gate so that they stay
// unfinished as long as the test wants.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "gated_writes.hpp"
#include "live_server.hpp"
#include "test_data.hpp"

namespace vstor::nbd {
namespace {

using ::vstor::test::GatedWrites;
using ::vstor::test::random_bytes;

using test::LiveServerTest;
using test::RawClient;

constexpr std::uint32_t kNbdMiB = 1u << 20;

class NbdWriteBudget : public LiveServerTest {
protected:
    void start(std::uint64_t per_connection, std::uint64_t total) {
        const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:nbdbudget").value;
        gate = std::make_shared<GatedWrites>(16 * kNbdMiB);
        ASSERT_TRUE(adapter->add_lun(tid, 0, gate));
        ServerConfig cfg;
        cfg.exports.push_back(ExportConfig{"disk", "", tid, 0});
        cfg.event_loops = 2;
        cfg.write_budget = util::WriteBudget::create(per_connection, total);
        start_server(cfg);
    }
    void TearDown() override {
        if (gate)
            gate->release_all();
        LiveServerTest::TearDown();
    }
    std::unique_ptr<RawClient> client() { return LiveServerTest::client("disk", false); }
    // A short pause in which a write the server should not read would reach the backend.
    static void settle() { std::this_thread::sleep_for(std::chrono::milliseconds(250)); }

    std::shared_ptr<GatedWrites> gate;
};

TEST_F(NbdWriteBudget, ConnectionOverItsBudgetStopsReadingAndResumes) {
    start(kNbdMiB, 16 * kNbdMiB);
    auto c = client();
    constexpr int kWrites = 4;
    std::vector<std::vector<std::uint8_t>> data;
    for (int i = 0; i < kWrites; ++i) data.push_back(random_bytes(kNbdMiB, static_cast<unsigned>(i + 1)));
    // The payloads may not all fit in the socket buffers once the server stops reading: send
    // them from another thread.
    auto sent = std::async(std::launch::async, [&] {
        for (int i = 0; i < kWrites; ++i)
            if (!c->request(cmd::write, 0, 100 + i, std::uint64_t(i) * kNbdMiB, kNbdMiB, data[i])) return false;
        return true;
    });
    for (int i = 0; i < kWrites; ++i) {
        ASSERT_EQ(gate->wait_held(1), 1u) << "write " << i << " never reached the backend";
        settle();
        ASSERT_EQ(gate->held_count(), 1u) << "a second 1 MiB write was read over a 1 MiB budget";
        gate->release_one();
        auto r = c->reply();
        ASSERT_TRUE(r.ok);
        EXPECT_EQ(r.error, 0u);
        EXPECT_EQ(r.cookie, 100u + i);
    }
    ASSERT_TRUE(sent.get());
    for (int i = 0; i < kWrites; ++i) {
        ASSERT_TRUE(c->request(cmd::read, 0, 200 + i, std::uint64_t(i) * kNbdMiB, kNbdMiB));
        auto r = c->reply(kNbdMiB);
        ASSERT_TRUE(r.ok);
        EXPECT_TRUE(r.data == data[i]) << "write " << i << " reads back wrong";
    }
}

// The total spans connections: the second connection's write waits for the first's to finish.
TEST_F(NbdWriteBudget, TotalBudgetHoldsAnotherConnection) {
    start(kNbdMiB, kNbdMiB);
    auto a = client(), b = client();
    const auto da = random_bytes(kNbdMiB, 7), db = random_bytes(kNbdMiB, 8);
    ASSERT_TRUE(a->request(cmd::write, 0, 1, 0, kNbdMiB, da));
    ASSERT_EQ(gate->wait_held(1), 1u);
    auto sent = std::async(std::launch::async, [&] { return b->request(cmd::write, 0, 2, kNbdMiB, kNbdMiB, db); });
    settle();
    ASSERT_EQ(gate->held_count(), 1u) << "the second connection's write was read over the total budget";
    gate->release_one();
    EXPECT_EQ(a->reply().error, 0u);
    ASSERT_EQ(gate->wait_held(1), 1u) << "the waiting connection did not resume";
    gate->release_one();
    EXPECT_EQ(b->reply().error, 0u);
    ASSERT_TRUE(sent.get());
    ASSERT_TRUE(b->request(cmd::read, 0, 3, 0, 2 * kNbdMiB));
    auto r = b->reply(2 * kNbdMiB);
    ASSERT_TRUE(r.ok);
    EXPECT_TRUE(std::equal(da.begin(), da.end(), r.data.begin()));
    EXPECT_TRUE(std::equal(db.begin(), db.end(), r.data.begin() + kNbdMiB));
}

// One write larger than the connection's whole budget still goes through (it is the only one).
TEST_F(NbdWriteBudget, WriteLargerThanTheBudgetProceedsAlone) {
    start(256 * 1024, 256 * 1024);
    auto c = client();
    const auto d = random_bytes(2 * kNbdMiB, 9);
    ASSERT_TRUE(c->request(cmd::write, 0, 1, 0, 2 * kNbdMiB, d));
    ASSERT_EQ(gate->wait_held(1), 1u);
    gate->release_one();
    EXPECT_EQ(c->reply().error, 0u);
}

}  // namespace
}  // namespace vstor::nbd
