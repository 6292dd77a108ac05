// GET LBA STATUS asks the backend's synchronous allocation_status(); it must run on the engine's
// workers, never on the thread that submits (a front end's network loop): a backend that takes
// its time there must not stall the other commands of that loop (issue 15 §3).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <future>
#include <latch>
#include <mutex>
#include <thread>

#include "engine_fixture.hpp"
#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

// Thin backend whose allocation_status waits until the test opens the latch.
class SlowMapBackend final : public Backend {
public:
    std::string kind() const override { return "slow-map"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 1024; }
    BackendCaps caps() const override {
        BackendCaps c;
        c.thin = true;
        c.allocation_status = true;
        return c;
    }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::memset(buf.data(), 0, buf.size());
        done(IoStatus::ok);
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
    std::vector<Extent> allocation_status(std::uint64_t lba, std::uint64_t count) override {
        entered.count_down();
        release.wait();
        return {Extent{lba, count, false}};
    }
    std::latch entered{1};
    std::latch release{1};
};

// One thread that submits commands in order, as a network loop does.
class FakeLoop {
public:
    FakeLoop() : thread_([this] { run(); }) {}
    ~FakeLoop() {
        post(nullptr);
        thread_.join();
    }
    void post(std::function<void()> job) {
        {
            std::lock_guard lk(mu_);
            jobs_.push_back(std::move(job));
        }
        cv_.notify_one();
    }

private:
    void run() {
        for (;;) {
            std::unique_lock lk(mu_);
            cv_.wait(lk, [this] { return !jobs_.empty(); });
            auto job = std::move(jobs_.front());
            jobs_.erase(jobs_.begin());
            lk.unlock();
            if (!job) return;
            job();
        }
    }
    std::mutex mu_;  // guards jobs_
    std::condition_variable cv_;
    std::vector<std::function<void()>> jobs_;
    std::thread thread_;  // last: starts after the members it uses
};

struct PendingStatus {
    std::vector<std::byte> buf;
    std::promise<Completion> p;
    std::future<Completion> f = p.get_future();
};

Command make_command(const std::shared_ptr<Nexus>& nexus, std::initializer_list<std::uint8_t> cdb, PendingStatus& r,
                     std::uint64_t tag) {
    Command c;
    c.nexus = nexus;
    std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
    c.cdb_len = static_cast<std::uint8_t>(cdb.size());
    c.tag = tag;
    c.dir = r.buf.empty() ? DataDirection::none : DataDirection::read;
    c.expected_length = static_cast<std::uint32_t>(r.buf.size());
    c.data = r.buf;
    return c;
}

TEST(LbaStatusOffLoop, SlowAllocationStatusDoesNotStallTheSubmittingLoop) {
    using namespace std::chrono_literals;
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:lba-status").value;
    auto backend = std::make_shared<SlowMapBackend>();
    ASSERT_TRUE(adapter->add_lun(tid, 0, backend));
    auto nexus = adapter->open_nexus(tid, "iqn.test:a,i,0x1");
    clear_unit_attention(*adapter, nexus);

    PendingStatus status, tur;
    FakeLoop loop;  // after what its jobs use: joined first
    status.buf.resize(24);
    Adapter* a = adapter.get();
    loop.post([&] {
        a->submit(make_command(nexus, {0x9e, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0}, status, 1),
            [&status](const Completion& c) { status.p.set_value(c); });
    });
    loop.post([&] {
        a->submit(make_command(nexus, {0, 0, 0, 0, 0, 0}, tur, 2), [&tur](const Completion& c) { tur.p.set_value(c); });
    });
    backend->entered.wait();
    const bool tur_done = tur.f.wait_for(3s) == std::future_status::ready;
    backend->release.count_down();  // let GET LBA STATUS finish either way, so the loop can stop
    ASSERT_TRUE(tur_done) << "TEST UNIT READY waited behind a blocked allocation_status()";
    EXPECT_EQ(tur.f.get().status, scsi_status::good);
    ASSERT_EQ(status.f.wait_for(5s), std::future_status::ready);
    const auto c = status.f.get();
    EXPECT_EQ(c.status, scsi_status::good);
    EXPECT_EQ(static_cast<std::uint8_t>(status.buf[20]) & 0x0f, 1);  // deallocated, as the backend said
}

}  // namespace
}  // namespace vstor::test
