// Reads whose data the backend lends (Backend::read_view, Command::accept_data_view) are read when
// the front end sends them, after the completion: the engine keeps such a read in its task set
// until the view is let go, so an ORDERED write behind it cannot show through (SAM-5 8.6), while
// task management, which finds the read completed, never waits for a front end to send.
#include <chrono>
#include <cstring>
#include <future>
#include <memory>
#include <vector>

#include "engine_fixture.hpp"

namespace vstor::test {
namespace {

using namespace std::chrono_literals;

constexpr std::uint32_t kBlocks = 256;  // 128 KiB: over the front ends' lending threshold
constexpr std::uint32_t kLentBytes = kBlocks * 512;

std::vector<std::uint8_t> rw10(std::uint8_t op, std::uint32_t lba, std::uint16_t blocks) {
    return {op, 0, static_cast<std::uint8_t>(lba >> 24), static_cast<std::uint8_t>(lba >> 16),
            static_cast<std::uint8_t>(lba >> 8), static_cast<std::uint8_t>(lba), 0,
            static_cast<std::uint8_t>(blocks >> 8), static_cast<std::uint8_t>(blocks), 0};
}

// The bytes a view holds, gathered.
std::vector<std::uint8_t> gather(const DataView& v) {
    std::vector<std::uint8_t> out;
    for (const auto& p : v.pieces) {
        const auto* b = reinterpret_cast<const std::uint8_t*>(p.data());
        out.insert(out.end(), b, b + p.size());
    }
    return out;
}

struct InFlight {
    std::vector<std::uint8_t> buf;
    std::promise<Completion> p;
    std::future<Completion> f = p.get_future();
};

class LentReads : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        old_data.assign(kLentBytes, 0xa1);
        new_data.assign(kLentBytes, 0xb2);
        ASSERT_EQ(send_cdb(rw10(0x2a, 0, kBlocks), 0, 0, old_data).status(), scsi_status::good);
    }

    std::unique_ptr<InFlight> submit(const std::vector<std::uint8_t>& cdb, TaskAttribute attr, std::uint64_t tag,
                                     std::vector<std::uint8_t> out = {}, bool lend = false) {
        auto f = std::make_unique<InFlight>();
        Command c;
        c.nexus = nexus;
        std::memcpy(c.cdb.data(), cdb.data(), cdb.size());
        c.cdb_len = static_cast<std::uint8_t>(cdb.size());
        c.attr = attr;
        c.tag = tag;
        c.dir = out.empty() ? DataDirection::read : DataDirection::write;
        f->buf = out.empty() ? std::vector<std::uint8_t>(kLentBytes) : std::move(out);
        c.expected_length = static_cast<std::uint32_t>(f->buf.size());
        c.data = std::as_writable_bytes(std::span(f->buf));
        c.accept_data_view = lend;
        auto* raw = f.get();
        adapter->submit(c, [raw](const Completion& comp) { raw->p.set_value(comp); });
        return f;
    }

    // A READ(10) of the blocks whose data comes back lent; the test holds the view.
    Completion lent_read(std::uint64_t tag = 1) {
        auto r = submit(rw10(0x28, 0, kBlocks), TaskAttribute::simple, tag, {}, true);
        Completion c = r->f.get();
        EXPECT_EQ(c.status, scsi_status::good);
        EXPECT_TRUE(c.data_view) << "the mem LUN lends its blocks";
        return c;
    }

    TmfResponse tmf(TmfFunction fn, std::uint64_t tag = 0) {
        TmfRequest req;
        req.nexus = nexus;
        req.function = fn;
        req.referenced_tag = tag;
        auto done = std::async(std::launch::async, [&] { return adapter->task_management(req); });
        if (done.wait_for(5s) != std::future_status::ready) {
            ADD_FAILURE() << "task management waited for a view the test holds";
            std::abort();  // the async call refers to this frame
        }
        return done.get();
    }

    std::vector<std::uint8_t> old_data, new_data;
};

TEST_F(LentReads, AnOrderedWriteWaitsUntilTheViewIsLetGo) {
    Completion read = lent_read();
    ASSERT_TRUE(read.data_view);
    auto write = submit(rw10(0x2a, 0, kBlocks), TaskAttribute::ordered, 2, new_data);
    // The read's data is still to be "sent": the write must not have run.
    EXPECT_EQ(write->f.wait_for(300ms), std::future_status::timeout);
    EXPECT_EQ(gather(*read.data_view), old_data);
    // A SIMPLE read behind the ORDERED write waits too (SAM-5 8.6.3); one HEAD OF QUEUE does not.
    auto head = submit(rw10(0x28, 0, 1), TaskAttribute::head_of_queue, 3);
    ASSERT_EQ(head->f.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(head->f.get().status, scsi_status::good);
    read.data_view.reset();  // sent
    ASSERT_EQ(write->f.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(write->f.get().status, scsi_status::good);
    Reply after = send_cdb(rw10(0x28, 0, kBlocks), 0, kLentBytes);
    EXPECT_EQ(after.data, new_data);
}

TEST_F(LentReads, ASimpleWriteIsNotHeldBack) {
    Completion read = lent_read();
    auto write = submit(rw10(0x2a, 0, kBlocks), TaskAttribute::simple, 2, new_data);
    ASSERT_EQ(write->f.wait_for(5s), std::future_status::ready);  // SIMPLE tasks may overlap
    EXPECT_EQ(write->f.get().status, scsi_status::good);
}

TEST_F(LentReads, AnOrderedReadHoldsBackWhatFollowsItUntilSent) {
    auto ordered = submit(rw10(0x28, 0, kBlocks), TaskAttribute::ordered, 1, {}, true);
    Completion read = ordered->f.get();
    ASSERT_TRUE(read.data_view);
    auto write = submit(rw10(0x2a, 0, kBlocks), TaskAttribute::simple, 2, new_data);
    EXPECT_EQ(write->f.wait_for(300ms), std::future_status::timeout);
    EXPECT_EQ(gather(*read.data_view), old_data);
    read.data_view.reset();
    ASSERT_EQ(write->f.wait_for(5s), std::future_status::ready);
}

TEST_F(LentReads, TaskManagementDoesNotWaitForTheView) {
    Completion read = lent_read(7);
    auto write = submit(rw10(0x2a, 0, kBlocks), TaskAttribute::ordered, 8, new_data);
    EXPECT_EQ(tmf(TmfFunction::query_task, 7), TmfResponse::complete);  // the read has completed
    EXPECT_EQ(tmf(TmfFunction::abort_task, 7), TmfResponse::task_not_exist);
    // ABORT TASK SET aborts the queued write (its own nexus: no response) and returns at once.
    EXPECT_EQ(tmf(TmfFunction::abort_task_set), TmfResponse::complete);
    ASSERT_EQ(write->f.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(write->f.get().aborted);
    // Another ORDERED write after the reset still waits for the data to be sent.
    EXPECT_EQ(tmf(TmfFunction::lun_reset), TmfResponse::complete);
    clear_ua();
    auto again = submit(rw10(0x2a, 0, kBlocks), TaskAttribute::ordered, 9, new_data);
    EXPECT_EQ(again->f.wait_for(300ms), std::future_status::timeout);
    EXPECT_EQ(gather(*read.data_view), old_data);
    read.data_view.reset();
    ASSERT_EQ(again->f.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(again->f.get().status, scsi_status::good);
}

TEST_F(LentReads, ForcedRemovalDoesNotWaitForTheView) {
    Completion read = lent_read();
    auto removed = std::async(std::launch::async, [&] { return adapter->remove_lun(tid, 0, true); });
    ASSERT_EQ(removed.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(removed.get());
    mem.reset();  // the view alone keeps the LUN's memory
    EXPECT_EQ(gather(*read.data_view), old_data);
    read.data_view.reset();
}

TEST_F(LentReads, AViewDroppedInTheCompletionLeavesAtOnce) {
    // A front end that drops the view at once (its connection closed) lets the write go.
    auto r = submit(rw10(0x28, 0, kBlocks), TaskAttribute::simple, 1, {}, true);
    r->f.get();  // the copy in the future's state goes with the future's result
    r.reset();
    auto write = submit(rw10(0x2a, 0, kBlocks), TaskAttribute::ordered, 2, new_data);
    ASSERT_EQ(write->f.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(write->f.get().status, scsi_status::good);
}

}  // namespace
}  // namespace vstor::test
