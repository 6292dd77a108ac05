// The write buffer budget seen from the wire: writes whose buffers do not fit get no R2T and
// wait (they are never failed), in arrival order; MaxCmdSN stops advancing meanwhile; a command
// larger than the whole per-session budget still proceeds when it is the oldest; the global
// budget holds writes of one session until another session's writes drain. Every byte written
// reads back.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "gated_writes.hpp"
#include "live_server.hpp"
#include "raw_initiator.hpp"

namespace vstor::iscsi {
namespace {

using test::LiveServerTest;
using test::RawInitiator;

constexpr const char* kBudgetIqn = "iqn.2026-11.org.vstor:budget";
constexpr std::uint32_t kKiB = 1024;

class WriteBudgetIscsi : public LiveServerTest {
protected:
    void start(std::uint64_t per_session, std::uint64_t total,
               std::shared_ptr<Backend> lun = std::make_shared<backends::MemBackend>(16u << 20)) {
        ServerConfig cfg;
        const auto tid = add_target(cfg, kBudgetIqn);
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::move(lun)));
        cfg.event_loops = 2;
        cfg.write_budget = budget = util::WriteBudget::create(per_session, total);
        start_server(cfg);
    }
    std::shared_ptr<util::WriteBudget> budget;

    std::unique_ptr<RawInitiator> login(std::vector<std::pair<std::string, std::string>> keys, std::uint8_t isid = 1) {
        auto ini = std::make_unique<RawInitiator>(port);
        keys.emplace_back("HeaderDigest", "None");
        keys.emplace_back("DataDigest", "None");
        keys.emplace_back("MaxRecvDataSegmentLength", "65536");
        keys.emplace_back("MaxBurstLength", "262144");
        keys.emplace_back("MaxOutstandingR2T", "1");
        keys.emplace_back("ErrorRecoveryLevel", "0");
        auto r = ini->login(kBudgetIqn, keys, isid);
        EXPECT_TRUE(r && r->opcode() == op::login_response && r->bhs[36] == 0 && r->bhs[37] == 0);
        return ini;
    }
};

std::vector<std::uint8_t> budget_pattern(std::size_t n, std::uint8_t seed) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(seed * 31 + i * 7 + (i >> 9));
    return v;
}

// Answers R2Ts for `itt` until its SCSI Response; fails on an R2T for any other task (which
// would mean a later write got its buffer before this one).
void finish_write(RawInitiator& ini, std::uint32_t itt, const std::vector<std::uint8_t>& data) {
    for (;;) {
        auto p = ini.next();
        ASSERT_TRUE(p) << "no PDU while finishing task " << itt;
        if (p->opcode() == op::r2t) {
            ASSERT_EQ(p->itt(), itt) << "R2T for a later write before task " << itt << " finished";
            ASSERT_TRUE(ini.data_out(itt, util::load_be32(&p->bhs[20]), data, util::load_be32(&p->bhs[40]), util::load_be32(&p->bhs[44])));
        } else if (p->opcode() == op::scsi_response) {
            ASSERT_EQ(p->itt(), itt);
            ASSERT_EQ(p->bhs[3], 0) << "write " << itt << " failed";
            return;
        } else {
            FAIL() << "unexpected opcode " << int(p->opcode());
        }
    }
}

TEST_F(WriteBudgetIscsi, WritesBeyondTheSessionBudgetWaitInOrderAndAllSucceed) {
    start(1 << 20, 64 << 20);
    auto ini = login({{"InitialR2T", "Yes"}, {"ImmediateData", "Yes"}, {"FirstBurstLength", "65536"}});
    const std::uint32_t window_at_login = ini->max_cmdsn();
    // Four 640 KiB writes with 64 KiB immediate data each: the first is given its buffer
    // (640 KiB in use), the next would pass 1 MiB (704 KiB + 576 KiB).
    std::vector<std::vector<std::uint8_t>> data;
    for (std::uint32_t i = 0; i < 4; ++i) {
        data.push_back(budget_pattern(640 * kKiB, static_cast<std::uint8_t>(i + 1)));
        ASSERT_TRUE(ini->write10(i + 1, i * 2048, data[i], 64 * kKiB));
    }
    auto first = ini->next();
    ASSERT_TRUE(first);
    ASSERT_EQ(first->opcode(), op::r2t);
    EXPECT_EQ(first->itt(), 1u);
    EXPECT_EQ(util::load_be32(&first->bhs[40]), 64 * kKiB);
    // ExpCmdSN moved on, the window did not: 640 KiB of 1 MiB leaves room for 6 more commands
    // of 64 KiB immediate data, fewer than the window already offered at login.
    EXPECT_EQ(util::load_be32(&first->bhs[28]), 2u);
    EXPECT_EQ(util::load_be32(&first->bhs[32]), window_at_login);
    EXPECT_TRUE(ini->quiet(300)) << "an R2T went out beyond the budget";
    ASSERT_TRUE(ini->data_out(1, util::load_be32(&first->bhs[20]), data[0], util::load_be32(&first->bhs[40]), util::load_be32(&first->bhs[44])));
    finish_write(*ini, 1, data[0]);
    for (std::uint32_t i = 1; i < 4; ++i) finish_write(*ini, i + 1, data[i]);
    EXPECT_EQ(ini->max_cmdsn(), window_at_login);
    for (std::uint32_t i = 0; i < 4; ++i) {
        auto back = ini->read10(100 + i, i * 2048, 640 * kKiB);
        ASSERT_TRUE(back);
        EXPECT_TRUE(*back == data[i]) << "write " << i + 1 << " reads back wrong";
    }
}

// Per-session budget smaller than one command: the oldest write still proceeds (else nothing
// could), the next one waits for it.
TEST_F(WriteBudgetIscsi, CommandLargerThanTheSessionBudgetProceedsWhenOldest) {
    start(256 * kKiB, 64 << 20);
    auto ini = login({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}});
    const auto a = budget_pattern(2 << 20, 7), b = budget_pattern(2 << 20, 9);
    ASSERT_TRUE(ini->write10(1, 0, a, 0));
    ASSERT_TRUE(ini->write10(2, 8192, b, 0));
    finish_write(*ini, 1, a);  // fails if task 2 got an R2T first
    finish_write(*ini, 2, b);
    auto back = ini->read10(3, 0, 2 << 20);
    ASSERT_TRUE(back);
    EXPECT_TRUE(*back == a);
    back = ini->read10(4, 8192, 2 << 20);
    ASSERT_TRUE(back);
    EXPECT_TRUE(*back == b);
}

// The global budget spans sessions: a second session's write waits for the first session's
// write to drain, then gets its R2T without the initiator doing anything.
TEST_F(WriteBudgetIscsi, GlobalBudgetHoldsAnotherSessionUntilDataDrains) {
    start(1 << 20, 1 << 20);
    auto s1 = login({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}}, 1);
    auto s2 = login({{"InitialR2T", "Yes"}, {"ImmediateData", "No"}}, 2);
    const auto a = budget_pattern(768 * kKiB, 3), b = budget_pattern(768 * kKiB, 4);
    ASSERT_TRUE(s1->write10(1, 0, a, 0));
    auto r2t = s1->next();
    ASSERT_TRUE(r2t && r2t->opcode() == op::r2t);
    ASSERT_TRUE(s2->write10(1, 4096, b, 0));
    EXPECT_TRUE(s2->quiet(300)) << "session 2 got an R2T although the global budget is used up";
    ASSERT_TRUE(s1->data_out(1, util::load_be32(&r2t->bhs[20]), a, util::load_be32(&r2t->bhs[40]), util::load_be32(&r2t->bhs[44])));
    finish_write(*s1, 1, a);
    finish_write(*s2, 1, b);
    auto back = s2->read10(2, 4096, 768 * kKiB);
    ASSERT_TRUE(back);
    EXPECT_TRUE(*back == b);
}

// Unsolicited data (InitialR2T=No) arrives before the target can refuse it: it is accepted and
// counted, the window stays shut while the budget is used up, and every write still completes.
TEST_F(WriteBudgetIscsi, UnsolicitedDataIsCountedAndWritesComplete) {
    start(512 * kKiB, 64 << 20);
    auto ini = login({{"InitialR2T", "No"}, {"ImmediateData", "Yes"}, {"FirstBurstLength", "131072"}});
    std::vector<std::vector<std::uint8_t>> data;
    for (std::uint32_t i = 0; i < 6; ++i) {
        data.push_back(budget_pattern(384 * kKiB, static_cast<std::uint8_t>(20 + i)));
        // 64 KiB immediate + 64 KiB unsolicited Data-Out = the 128 KiB first burst.
        ASSERT_TRUE(ini->write10(i + 1, i * 1024, data[i], 64 * kKiB, false));
        ASSERT_TRUE(ini->data_out(i + 1, kReservedTag, data[i], 64 * kKiB, 64 * kKiB));
    }
    for (std::uint32_t i = 0; i < 6; ++i) finish_write(*ini, i + 1, data[i]);
    for (std::uint32_t i = 0; i < 6; ++i) {
        auto back = ini->read10(100 + i, i * 1024, 384 * kKiB);
        ASSERT_TRUE(back);
        EXPECT_TRUE(*back == data[i]);
    }
}

// A write whose data all came as immediate data is counted while its LUN holds it (a mem LUN's,
// completed inside submit(), never is: it is given back before anything could look).
TEST_F(WriteBudgetIscsi, ImmediateWriteIsCountedWhileTheLunHoldsIt) {
    auto lun = std::make_shared<::vstor::test::GatedWrites>(1u << 20);
    struct ReleaseAtEnd {  // whatever fails, no write is left held when the server stops
        std::shared_ptr<::vstor::test::GatedWrites> lun;
        ~ReleaseAtEnd() { lun->release_all(); }
    } release_at_end{lun};
    start(1 << 20, 64 << 20, lun);
    auto ini = login({{"InitialR2T", "Yes"}, {"ImmediateData", "Yes"}, {"FirstBurstLength", "65536"}});
    const auto data = budget_pattern(16 * kKiB, 7);
    ASSERT_TRUE(ini->write10(1, 8, data, data.size()));
    for (int i = 0; i < 500 && lun->held_count() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_EQ(lun->held_count(), 1u);
    EXPECT_EQ(budget->used(), 16 * kKiB);
    lun->release_all();
    auto r = ini->next();
    ASSERT_TRUE(r && r->opcode() == op::scsi_response && r->itt() == 1u);
    EXPECT_EQ(r->bhs[3], 0) << "the write failed";
    EXPECT_EQ(budget->used(), 0u);
    auto back = ini->read10(2, 8, 16 * kKiB);
    ASSERT_TRUE(back);
    EXPECT_TRUE(*back == data);
}

TEST_F(WriteBudgetIscsi, ImmediateWritesToAMemLunLeaveNothingCounted) {
    start(1 << 20, 64 << 20);
    auto ini = login({{"InitialR2T", "Yes"}, {"ImmediateData", "Yes"}, {"FirstBurstLength", "65536"}});
    std::vector<std::vector<std::uint8_t>> data;
    for (std::uint32_t i = 0; i < 8; ++i) {
        data.push_back(budget_pattern(8 * kKiB, static_cast<std::uint8_t>(40 + i)));
        ASSERT_TRUE(ini->write10(i + 1, i * 16, data[i], data[i].size()));
    }
    for (std::uint32_t i = 0; i < 8; ++i) {
        auto r = ini->next();
        ASSERT_TRUE(r && r->opcode() == op::scsi_response);
        EXPECT_EQ(r->bhs[3], 0);
    }
    EXPECT_EQ(budget->used(), 0u);
    for (std::uint32_t i = 0; i < 8; ++i) {
        auto back = ini->read10(100 + i, i * 16, 8 * kKiB);
        ASSERT_TRUE(back);
        EXPECT_TRUE(*back == data[i]);
    }
}

}  // namespace
}  // namespace vstor::iscsi
