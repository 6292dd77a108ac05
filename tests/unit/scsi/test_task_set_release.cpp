// Tasks released by a completing ORDERED task start on the engine's workers, never inside the
// completing backend's own `done` (issue 15 §3): a backend that completes from its own thread
// must not find itself re-entered on that thread. Public API only (vstor/adapter.hpp): this is
// what a backend author sees.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

// TEST UNIT READY until GOOD: uses up the power-on unit attention.
void clear_power_on_attention(Adapter& a, const std::shared_ptr<Nexus>& nexus) {
    for (int i = 0; i < 8; ++i) {
        Command c;
        c.nexus = nexus;
        c.cdb_len = 6;
        std::promise<Completion> p;
        a.submit(c, [&p](const Completion& r) { p.set_value(r); });
        if (p.get_future().get().status == scsi_status::good) return;
    }
}

// Runs every read's completion on a thread of its own, one at a time, once the test opens it;
// notes any read that arrives on that thread (from inside one of its own completions). With
// `rendezvous`, each read also waits until that thread has taken it (as a backend that serializes
// its I/O on its own thread does): started from inside that worker's `done`, such a read would wait
// for its own thread forever; the wait gives up after 3 s and says so, to keep the test bounded.
class WorkerThreadBackend final : public Backend {
public:
    explicit WorkerThreadBackend(bool rendezvous) : rendezvous_(rendezvous), worker_([this] { work(); }) {}
    ~WorkerThreadBackend() override {
        {
            std::lock_guard lk(mu_);
            stop_ = true;
        }
        cv_.notify_all();
        worker_.join();
    }
    std::string kind() const override { return "worker-thread"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 1024; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        if (std::this_thread::get_id() == worker_.get_id()) reentered = true;
        std::memset(buf.data(), 0x5a, buf.size());
        std::unique_lock lk(mu_);
        const std::uint64_t mine = ++queued_;
        jobs_.push_back(std::move(done));
        cv_.notify_all();
        if (rendezvous_ && !cv_.wait_for(lk, std::chrono::seconds(3), [&] { return taken_ >= mine; }))
            deadlocked = true;
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
    void open() {
        {
            std::lock_guard lk(mu_);
            open_ = true;
        }
        cv_.notify_all();
    }
    std::atomic<bool> reentered{false};
    std::atomic<bool> deadlocked{false};

private:
    void work() {
        std::unique_lock lk(mu_);
        for (;;) {
            // Without a rendezvous a read is not even taken before the test opens the backend.
            cv_.wait(lk, [this] { return stop_ || (!jobs_.empty() && (rendezvous_ || open_)); });
            if (stop_) return;
            auto done = std::move(jobs_.front());
            jobs_.pop_front();
            ++taken_;
            cv_.notify_all();
            cv_.wait(lk, [this] { return stop_ || open_; });  // the test decides when reads complete
            lk.unlock();
            done(IoStatus::ok);  // outside the lock (contract v1)
            lk.lock();
        }
    }
    const bool rendezvous_;
    std::mutex mu_;  // guards jobs_, queued_, taken_, open_, stop_
    std::condition_variable cv_;
    std::deque<IoCallback> jobs_;
    std::uint64_t queued_ = 0, taken_ = 0;
    bool open_ = false;
    bool stop_ = false;
    std::thread worker_;  // last: starts after the members it uses
};

struct Read {
    std::vector<std::byte> buf = std::vector<std::byte>(512);
    std::promise<Completion> p;
    std::future<Completion> f = p.get_future();
};

void submit_read(Adapter& a, const std::shared_ptr<Nexus>& nexus, TaskAttribute attr, std::uint64_t tag, Read& r) {
    Command c;
    c.nexus = nexus;
    c.cdb[0] = 0x28;  // READ(10) of one block
    c.cdb[8] = 1;
    c.cdb_len = 10;
    c.attr = attr;
    c.tag = tag;
    c.dir = DataDirection::read;
    c.expected_length = 512;
    c.data = r.buf;
    a.submit(c, [&r](const Completion& comp) { r.p.set_value(comp); });
}

TEST(TaskSetRelease, TaskQueuedBehindOrderedDoesNotStartInsideTheBackendsDone) {
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:release").value;
    auto backend = std::make_shared<WorkerThreadBackend>(false);
    ASSERT_TRUE(adapter->add_lun(tid, 0, backend));
    auto nexus = adapter->open_nexus(tid, "iqn.test:a,i,0x1");
    clear_power_on_attention(*adapter, nexus);

    Read ordered, simple;
    submit_read(*adapter, nexus, TaskAttribute::ordered, 1, ordered);
    submit_read(*adapter, nexus, TaskAttribute::simple, 2, simple);  // waits behind the ORDERED read
    backend->open();
    using namespace std::chrono_literals;
    ASSERT_EQ(ordered.f.wait_for(5s), std::future_status::ready);
    ASSERT_EQ(simple.f.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(ordered.f.get().status, scsi_status::good);
    EXPECT_EQ(simple.f.get().status, scsi_status::good);
    EXPECT_FALSE(backend->reentered) << "the released READ started on the backend's thread, inside its done";
}

// The deadlock itself: a backend whose reads wait for its own thread to take them.
TEST(TaskSetRelease, BackendThatWaitsForItsOwnThreadDoesNotDeadlock) {
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:hand-off").value;
    auto backend = std::make_shared<WorkerThreadBackend>(true);
    ASSERT_TRUE(adapter->add_lun(tid, 0, backend));
    auto nexus = adapter->open_nexus(tid, "iqn.test:a,i,0x1");
    clear_power_on_attention(*adapter, nexus);

    Read ordered, simple;
    submit_read(*adapter, nexus, TaskAttribute::ordered, 1, ordered);  // taken by the worker, held
    submit_read(*adapter, nexus, TaskAttribute::simple, 2, simple);    // queued behind it
    backend->open();
    using namespace std::chrono_literals;
    ASSERT_EQ(ordered.f.wait_for(10s), std::future_status::ready);
    ASSERT_EQ(simple.f.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(ordered.f.get().status, scsi_status::good);
    EXPECT_EQ(simple.f.get().status, scsi_status::good);
    EXPECT_EQ(simple.buf[511], std::byte{0x5a});
    EXPECT_FALSE(backend->deadlocked) << "the released READ waited for the backend's thread from inside its done";
}

}  // namespace
}  // namespace vstor::test
