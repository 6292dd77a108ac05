// Backend::resize is synchronous and may block (contract v1): it runs on the thread that calls
// Adapter::resize_lun (the control thread under `vstor serve`), and the engine holds none of its
// locks meanwhile, so commands on the LUN keep completing while a slow resize runs (issue 15 §3).
// Public API only.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <latch>
#include <optional>
#include <thread>
#include <vector>

#include "adapter/zero_backend.hpp"
#include "vstor/adapter.hpp"
#include "vstor/sense.hpp"

namespace vstor::test {
namespace {

class SlowResizeBackend final : public ZeroBackend {
public:
    std::string kind() const override { return "slow-resize"; }
    std::uint64_t block_count() const override { return blocks_.load(); }
    IoStatus resize(std::uint64_t new_block_count) override {
        entered.count_down();
        release.wait();  // a slow storage call: a database, a remote volume
        blocks_ = new_block_count;
        return IoStatus::ok;
    }
    std::latch entered{1};
    std::latch release{1};

private:
    std::atomic<std::uint64_t> blocks_{1024};
};

struct ResizeReply {
    Completion c;
    std::vector<std::byte> data;
};

// A command submitted from a thread of its own (as a network loop would), so that a submit that
// blocks cannot hang the test: the reply is awaited at most 3 s.
class Submitted {
public:
    Submitted(Adapter& a, const std::shared_ptr<Nexus>& nexus, std::initializer_list<std::uint8_t> cdb,
              std::uint32_t alloc)
        : reply_(std::make_shared<ResizeReply>()) {
        reply_->data.resize(alloc);
        Command c;
        c.nexus = nexus;
        std::copy(cdb.begin(), cdb.end(), c.cdb.begin());
        c.cdb_len = static_cast<std::uint8_t>(cdb.size());
        c.dir = alloc ? DataDirection::read : DataDirection::none;
        c.expected_length = alloc;
        c.data = reply_->data;
        auto p = std::make_shared<std::promise<void>>();
        done_ = p->get_future();
        loop_ = std::thread([&a, c, p, r = reply_] {
            a.submit(c, [p, r](const Completion& comp) {
                r->c = comp;
                p->set_value();
            });
        });
    }
    ~Submitted() { loop_.join(); }
    // The reply, or nullopt if the command did not complete within 3 s.
    std::optional<ResizeReply> get() {
        if (done_.wait_for(std::chrono::seconds(3)) != std::future_status::ready) return std::nullopt;
        return *reply_;
    }

private:
    std::shared_ptr<ResizeReply> reply_;
    std::future<void> done_;
    std::thread loop_;
};

std::optional<ResizeReply> send(Adapter& a, const std::shared_ptr<Nexus>& nexus, std::initializer_list<std::uint8_t> cdb,
                          std::uint32_t alloc) {
    return Submitted(a, nexus, cdb, alloc).get();
}

std::uint32_t last_lba(const ResizeReply& r) {
    return (std::to_integer<std::uint32_t>(r.data[0]) << 24) | (std::to_integer<std::uint32_t>(r.data[1]) << 16) |
           (std::to_integer<std::uint32_t>(r.data[2]) << 8) | std::to_integer<std::uint32_t>(r.data[3]);
}

TEST(BackendResizeBlocking, CommandsCompleteWhileASlowResizeRuns) {
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:resize").value;
    auto backend = std::make_shared<SlowResizeBackend>();
    ASSERT_TRUE(adapter->add_lun(tid, 0, backend));
    auto nexus = adapter->open_nexus(tid, "iqn.test:a,i,0x1");
    for (int i = 0; i < 8; ++i)  // use up the power-on unit attention
        if (auto r = send(*adapter, nexus, {0, 0, 0, 0, 0, 0}, 0); r && r->c.status == scsi_status::good) break;

    std::promise<Status> resized;
    std::thread control([&] { resized.set_value(adapter->resize_lun(tid, 0, 2048)); });
    backend->entered.wait();
    Submitted read_cmd(*adapter, nexus, {0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0}, 512);  // READ(10), LBA 8
    Submitted cap_cmd(*adapter, nexus, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8);     // READ CAPACITY(10)
    const auto read = read_cmd.get();
    const auto cap = cap_cmd.get();
    backend->release.count_down();  // let the resize finish either way, so the threads can be joined
    control.join();
    ASSERT_TRUE(read) << "READ waited behind a blocked Backend::resize";
    EXPECT_EQ(read->c.status, scsi_status::good);
    ASSERT_TRUE(cap) << "READ CAPACITY waited behind a blocked Backend::resize";
    EXPECT_EQ(last_lba(*cap), 1023u);  // the old size until the backend says it changed
    ASSERT_TRUE(resized.get_future().get());

    // Then the nexus hears about it once, and the new size is what READ CAPACITY reports.
    const auto ua = send(*adapter, nexus, {0, 0, 0, 0, 0, 0}, 0);
    ASSERT_TRUE(ua);
    ASSERT_EQ(ua->c.status, scsi_status::check_condition);
    const auto s = scsi::decode_sense(ua->c.sense_bytes());
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->is(0x06, 0x2a, 0x09)) << "expected CAPACITY DATA HAS CHANGED";
    const auto after = send(*adapter, nexus, {0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 8);
    ASSERT_TRUE(after);
    EXPECT_EQ(last_lba(*after), 2047u);
}

}  // namespace
}  // namespace vstor::test
