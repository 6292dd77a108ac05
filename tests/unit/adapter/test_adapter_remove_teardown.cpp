// Adapter::remove_lun lets go of the LUN's backend with no adapter lock held (an RBD backend whose
// cluster does not answer takes up to 10 s to close), and a forced removal waits for the commands
// the backend still runs the same way; it returns only once the command ended and the backend is
// gone. Public API only.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <latch>
#include <memory>
#include <mutex>
#include <thread>

#include "adapter/zero_backend.hpp"
#include "vstor/adapter.hpp"
#include "vstor/lun_address.hpp"

namespace vstor::test {
namespace {

using namespace std::chrono_literals;

// What a test and a backend it no longer holds share: the backend's destructor says it started,
// waits for `release` (5 s at most) and says it ended.
struct RemovalTeardown {
    std::latch entered{1};
    std::latch release{1};
    std::atomic<bool> closed{false};
    std::mutex mu;
    IoCallback held_read;  // HeldReadBackend's read, completed when the test says
};

class HeldReadBackend final : public ZeroBackend {
public:
    explicit HeldReadBackend(std::shared_ptr<RemovalTeardown> t) : t_(std::move(t)) {}
    ~HeldReadBackend() override {
        t_->entered.count_down();
        for (auto until = std::chrono::steady_clock::now() + 5s; !t_->release.try_wait();) {
            if (std::chrono::steady_clock::now() > until) break;
            std::this_thread::sleep_for(1ms);
        }
        t_->closed = true;
    }
    std::string kind() const override { return "gate"; }
    // A read that the storage has not answered yet: the command holds the LUN meanwhile.
    void read(std::uint64_t, std::span<std::byte>, IoCallback done) override {
        std::lock_guard lk(t_->mu);
        t_->held_read = std::move(done);
    }

private:
    std::shared_ptr<RemovalTeardown> t_;
};

TEST(AdapterRemoveTeardown, OtherChangesGoOnWhileARemovedBackendCloses) {
    auto t = std::make_shared<RemovalTeardown>();
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-12.org.vstor:teardown").value;
    ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<HeldReadBackend>(t)));
    ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<ZeroBackend>()));
    auto removing = std::async(std::launch::async, [&] { return adapter->remove_lun(tid, 0); });
    t->entered.wait();
    // The removal is under way (its backend closing): the adapter answers and changes meanwhile.
    const auto before = std::chrono::steady_clock::now();
    const auto luns = adapter->targets().at(0).luns;
    ASSERT_EQ(luns.size(), 1u);
    EXPECT_EQ(luns[0].lun, 1);  // LUN 0 is gone already
    EXPECT_TRUE(adapter->add_lun(tid, 2, std::make_shared<ZeroBackend>()));
    EXPECT_TRUE(adapter->remove_lun(tid, 1));
    EXPECT_LT(std::chrono::steady_clock::now() - before, 1s) << "changes waited for another LUN's teardown";
    EXPECT_EQ(removing.wait_for(200ms), std::future_status::timeout) << "remove_lun returned before its backend closed";
    t->release.count_down();
    ASSERT_EQ(removing.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(removing.get());
    EXPECT_TRUE(t->closed);
}

TEST(AdapterRemoveTeardown, AForcedRemovalWaitsForTheCommandThatHoldsTheLun) {
    auto t = std::make_shared<RemovalTeardown>();
    t->release.count_down();  // the destructor itself is quick here
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-12.org.vstor:held").value;
    ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<HeldReadBackend>(t)));
    auto nexus = adapter->open_nexus(tid, "iqn.test:a,i,0x1");
    std::promise<Completion> read_done;
    Command read;
    read.nexus = nexus;
    read.lun = encode_sam_lun(0);
    const std::uint8_t cdb[] = {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0};  // READ(10), LBA 0, one block
    std::copy(std::begin(cdb), std::end(cdb), read.cdb.begin());
    read.cdb_len = sizeof cdb;
    read.dir = DataDirection::read;
    read.expected_length = 512;
    std::vector<std::byte> data(512);
    read.data = data;
    std::thread initiator([&] { adapter->submit(read, [&](const Completion& c) { read_done.set_value(c); }); });
    initiator.join();
    for (int i = 0; i < 500; ++i) {  // until the read reached the backend
        if (std::lock_guard lk(t->mu); t->held_read) break;
        std::this_thread::sleep_for(2ms);
    }
    {
        std::lock_guard lk(t->mu);
        ASSERT_TRUE(t->held_read) << "the READ did not reach the backend";
    }
    auto removing = std::async(std::launch::async, [&] { return adapter->remove_lun(tid, 0, true); });
    EXPECT_EQ(removing.wait_for(300ms), std::future_status::timeout)
        << "remove_lun returned while a command still held the LUN (its backend open)";
    EXPECT_FALSE(t->closed);
    // The removal waits for the command without the adapter's change lock: other LUNs change.
    auto adding =
        std::async(std::launch::async, [&] { return adapter->add_lun(tid, 1, std::make_shared<ZeroBackend>()); });
    EXPECT_EQ(adding.wait_for(2s), std::future_status::ready) << "add_lun waited for another LUN's forced removal";
    IoCallback done;
    {
        std::lock_guard lk(t->mu);
        done = std::move(t->held_read);
        t->held_read = nullptr;
    }
    done(IoStatus::ok);  // the storage answers: the command ends and lets go of the LUN
    done = nullptr;
    EXPECT_TRUE(adding.get());  // (had it waited, it ends now)
    ASSERT_EQ(removing.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(removing.get());
    EXPECT_TRUE(t->closed);
    EXPECT_EQ(read_done.get_future().wait_for(1s), std::future_status::ready);
}

}  // namespace
}  // namespace vstor::test
