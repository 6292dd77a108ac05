// SAM-5 task attributes and task management: ORDERED barriers, ABORT TASK, LUN RESET.
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

// A backend whose reads complete only when the test opens the gate.
class GateBackend final : public Backend {
public:
    std::string kind() const override { return "gate"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 1024; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t, std::span<std::byte> buf, IoCallback done) override {
        std::memset(buf.data(), 0, buf.size());
        std::lock_guard lk(mu);
        held.push_back(std::move(done));
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override { done(IoStatus::ok); }
    void flush(IoCallback done) override { done(IoStatus::ok); }
    void release_all() {
        std::vector<IoCallback> cbs;
        {
            std::lock_guard lk(mu);
            cbs.swap(held);
        }
        for (auto& cb : cbs) cb(IoStatus::ok);
    }
    std::size_t pending() {
        std::lock_guard lk(mu);
        return held.size();
    }
    std::mutex mu;
    std::vector<IoCallback> held;
};

struct Pending {
    std::vector<std::uint8_t> buf = std::vector<std::uint8_t>(512);
    std::promise<Completion> p;
    std::future<Completion> f = p.get_future();
};

class TaskManagement : public ::testing::Test {
protected:
    void SetUp() override {
        adapter = Adapter::create();
        tid = *adapter->add_target("iqn.2026-11.org.vstor:tmf").value;
        gate = std::make_shared<GateBackend>();
        ASSERT_TRUE(adapter->add_lun(tid, 0, gate));
        nexus = adapter->open_nexus(tid, "iqn.test:a,i,0x1");
        // A fresh nexus has no unit attention pending.
        auto p = submit(0x00, TaskAttribute::simple, 99);
        ASSERT_EQ(p->f.get().status, scsi_status::good);
    }

    std::unique_ptr<Pending> submit(std::uint8_t opcode, TaskAttribute attr, std::uint64_t tag,
                                    std::shared_ptr<Nexus> via = nullptr) {
        auto p = std::make_unique<Pending>();
        Command c;
        c.nexus = via ? via : nexus;
        c.cdb[0] = opcode;
        if (opcode == 0x28) c.cdb[8] = 1;  // READ(10) of one block
        c.cdb_len = opcode == 0x28 ? 10 : 6;
        c.attr = attr;
        c.tag = tag;
        c.dir = opcode == 0x28 ? DataDirection::read : DataDirection::none;
        c.expected_length = opcode == 0x28 ? 512 : 0;
        c.data = std::as_writable_bytes(std::span(p->buf)).first(c.expected_length);
        auto* raw = p.get();
        adapter->submit(c, [raw](const Completion& comp) { raw->p.set_value(comp); });
        return p;
    }

    static bool ready(const Pending& p) {
        return p.f.wait_for(std::chrono::milliseconds(0)) == std::future_status::ready;
    }

    std::unique_ptr<Adapter> adapter;
    std::uint16_t tid = 0;
    std::shared_ptr<GateBackend> gate;
    std::shared_ptr<Nexus> nexus;
};

TEST_F(TaskManagement, OrderedTaskWaitsForOlderTasksAndBlocksNewerOnes) {
    auto read1 = submit(0x28, TaskAttribute::simple, 1);
    auto ordered = submit(0x00, TaskAttribute::ordered, 2);  // TEST UNIT READY
    auto simple = submit(0x00, TaskAttribute::simple, 3);
    auto hoq = submit(0x00, TaskAttribute::head_of_queue, 4);
    EXPECT_TRUE(ready(*hoq));  // HEAD OF QUEUE is not held back
    EXPECT_FALSE(ready(*ordered));
    EXPECT_FALSE(ready(*simple));
    gate->release_all();
    EXPECT_EQ(read1->f.get().status, scsi_status::good);
    EXPECT_EQ(ordered->f.get().status, scsi_status::good);
    EXPECT_EQ(simple->f.get().status, scsi_status::good);
}

TEST_F(TaskManagement, AbortTaskDropsResponseOfRunningTask) {
    auto read1 = submit(0x28, TaskAttribute::simple, 7);
    ASSERT_EQ(gate->pending(), 1u);
    TmfRequest req{nexus, TmfFunction::abort_task, encode_sam_lun(0), 7};
    auto tmf = std::async(std::launch::async, [&] { return adapter->task_management(req); });
    // The TMF waits for the task to terminate (SAM-5 7.1).
    EXPECT_EQ(tmf.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
    gate->release_all();
    EXPECT_EQ(tmf.get(), TmfResponse::complete);
    EXPECT_TRUE(read1->f.get().aborted);
}

// A lost nexus (its connection dropped) must not make the front end wait for its commands still in
// the backend: the front end's event loop calls nexus_lost(), and a store may never answer. Its
// SPC-2 reservation goes once those commands have completed (at once when none runs).
TEST_F(TaskManagement, NexusLostDoesNotWaitForRunningTasksAndReleasesItsReservationAfterThem) {
    constexpr std::uint8_t kReserve6 = 0x16;
    constexpr std::uint8_t kReservationConflict = 0x18;
    auto other = adapter->open_nexus(tid, "iqn.test:b,i,0x2");
    ASSERT_EQ(submit(kReserve6, TaskAttribute::simple, 1)->f.get().status, scsi_status::good);
    auto read = submit(0x28, TaskAttribute::simple, 2);
    ASSERT_EQ(gate->pending(), 1u);
    auto lost = std::async(std::launch::async, [&] { adapter->nexus_lost(nexus); });
    ASSERT_EQ(lost.wait_for(std::chrono::seconds(2)), std::future_status::ready) << "nexus_lost waited for the backend";
    // Its read still runs in the backend: the reservation it holds stays until it ends.
    EXPECT_EQ(submit(kReserve6, TaskAttribute::simple, 3, other)->f.get().status, kReservationConflict);
    gate->release_all();
    EXPECT_TRUE(read->f.get().aborted);
    std::uint8_t status = kReservationConflict;
    for (int i = 0; i < 200 && status == kReservationConflict; ++i) {  // released on the engine's workers
        status = submit(kReserve6, TaskAttribute::simple, 4, other)->f.get().status;
        if (status == kReservationConflict) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(status, scsi_status::good);
    // With nothing running, the reservation goes before nexus_lost() returns.
    auto third = adapter->open_nexus(tid, "iqn.test:c,i,0x3");
    ASSERT_EQ(submit(0x17, TaskAttribute::simple, 5, other)->f.get().status, scsi_status::good);  // RELEASE(6)
    ASSERT_EQ(submit(kReserve6, TaskAttribute::simple, 6, third)->f.get().status, scsi_status::good);
    adapter->nexus_lost(third);
    EXPECT_EQ(submit(kReserve6, TaskAttribute::simple, 7, other)->f.get().status, scsi_status::good);
}

// task_management_async holds no thread while the affected tasks run: functions waiting for a
// backend that does not answer pile up without keeping any other LUN's task management waiting,
// and each completes (with its LU reset done) when the backend answers.
TEST_F(TaskManagement, AsyncFunctionsWaitingForABackendHoldNoThreadAndCompleteWhenItAnswers) {
    ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<GateBackend>()));
    submit(0x00, TaskAttribute::simple, 98)->f.get();  // REPORTED LUNS DATA HAS CHANGED
    auto read = submit(0x28, TaskAttribute::simple, 1);
    ASSERT_EQ(gate->pending(), 1u);
    constexpr int kStuck = 8;  // more than any pool of threads that would each wait for one
    std::vector<std::promise<TmfResponse>> answers(kStuck);
    std::vector<std::future<TmfResponse>> got;
    for (auto& a : answers) {
        got.push_back(a.get_future());
        adapter->task_management_async(TmfRequest{nexus, TmfFunction::lun_reset, encode_sam_lun(0), 0},
                                       [&a](TmfResponse r) { a.set_value(r); });
    }
    for (auto& f : got) EXPECT_EQ(f.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
    // LUN 1's reset and an ABORT TASK of a tag that is gone answer at once, on this thread.
    std::optional<TmfResponse> other, unknown;
    adapter->task_management_async(TmfRequest{nexus, TmfFunction::lun_reset, encode_sam_lun(1), 0},
                                   [&](TmfResponse r) { other = r; });
    adapter->task_management_async(TmfRequest{nexus, TmfFunction::abort_task, encode_sam_lun(1), 77},
                                   [&](TmfResponse r) { unknown = r; });
    EXPECT_EQ(other, TmfResponse::complete);
    EXPECT_EQ(unknown, TmfResponse::task_not_exist);
    // LUN 0 takes new commands meanwhile, and its resets have not happened yet: no unit attention.
    EXPECT_EQ(submit(0x00, TaskAttribute::simple, 2)->f.get().status, scsi_status::good);
    gate->release_all();
    EXPECT_TRUE(read->f.get().aborted);
    for (auto& f : got) {
        ASSERT_EQ(f.wait_for(std::chrono::seconds(5)), std::future_status::ready);
        EXPECT_EQ(f.get(), TmfResponse::complete);
    }
    // Now they have: LUN RESET's unit attention (29h/03h).
    const auto ua = submit(0x00, TaskAttribute::simple, 3)->f.get();
    ASSERT_EQ(ua.status, scsi_status::check_condition);
    EXPECT_EQ(ua.sense[12], 0x29);
    EXPECT_EQ(ua.sense[13], 0x03);
}

TEST_F(TaskManagement, AbortUnknownTagIsTaskNotExist) {
    TmfRequest req{nexus, TmfFunction::abort_task, encode_sam_lun(0), 12345};
    EXPECT_EQ(adapter->task_management(req), TmfResponse::task_not_exist);
}

TEST_F(TaskManagement, QueuedTaskBehindOrderedIsAbortedAtOnce) {
    auto read1 = submit(0x28, TaskAttribute::ordered, 1);
    auto queued = submit(0x00, TaskAttribute::simple, 2);
    TmfRequest req{nexus, TmfFunction::abort_task, encode_sam_lun(0), 2};
    EXPECT_EQ(adapter->task_management(req), TmfResponse::complete);
    EXPECT_TRUE(queued->f.get().aborted);
    gate->release_all();
    EXPECT_EQ(read1->f.get().status, scsi_status::good);
}

TEST_F(TaskManagement, LunResetAbortsOtherInitiatorsTasksWithTaskAbortedAndSetsUnitAttention) {
    auto other = adapter->open_nexus(tid, "iqn.test:b,i,0x2");
    auto first = submit(0x00, TaskAttribute::simple, 1, other);
    ASSERT_EQ(first->f.get().status, scsi_status::good);
    auto theirs = submit(0x28, TaskAttribute::ordered, 5, other);  // running, held at the gate
    ASSERT_EQ(gate->pending(), 1u);
    auto queued = submit(0x00, TaskAttribute::simple, 6, other);   // waits behind the ORDERED read
    EXPECT_FALSE(ready(*queued));
    TmfRequest req{nexus, TmfFunction::lun_reset, encode_sam_lun(0), 0};
    auto tmf = std::async(std::launch::async, [&] { return adapter->task_management(req); });
    // The queued task is answered at once, and only after the reset has marked the running read:
    // opening the gate any earlier would let the read finish before the reset got to it.
    EXPECT_EQ(queued->f.get().status, scsi_status::task_aborted);  // TAS=1 by default
    EXPECT_EQ(tmf.wait_for(std::chrono::milliseconds(20)), std::future_status::timeout);  // waits for the read
    gate->release_all();
    EXPECT_EQ(tmf.get(), TmfResponse::complete);
    const auto c = theirs->f.get();
    EXPECT_EQ(c.status, scsi_status::task_aborted);
    auto after = submit(0x00, TaskAttribute::simple, 7, other);
    const auto ua = after->f.get();
    ASSERT_EQ(ua.status, scsi_status::check_condition);
    EXPECT_EQ(ua.sense[12], 0x29);
    EXPECT_EQ(ua.sense[13], 0x03);
}

TEST_F(TaskManagement, TmfOnMissingLunIsIncorrectLun) {
    TmfRequest req{nexus, TmfFunction::lun_reset, encode_sam_lun(9), 0};
    EXPECT_EQ(adapter->task_management(req), TmfResponse::incorrect_lun);
}

}  // namespace
}  // namespace vstor::test
