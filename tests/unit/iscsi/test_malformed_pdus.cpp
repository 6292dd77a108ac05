// Malformed PDUs on one connection (unknown opcode before login, oversized segment, Data-Out for
// no command, bad header digest): that connection is rejected or dropped, and another session
// keeps working (checked with a real libiscsi initiator).
#include <gtest/gtest.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "live_server.hpp"
#include "raw_initiator.hpp"

namespace vstor::iscsi {
namespace {

using test::LiveServerTest;
using test::RawInitiator;

constexpr const char* kMalformedIqn = "iqn.2026-11.org.vstor:malformed";

class MalformedPdus : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        const auto tid = add_target(cfg, kMalformedIqn);
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(16u << 20)));
        cfg.event_loops = 2;
        start_server(cfg);
    }

    // A working initiator still gets INQUIRY answered.
    void expect_other_session_works() const {
        iscsi_context* ctx = iscsi_create_context("iqn.2026-11.org.test:good");
        ASSERT_NE(ctx, nullptr);
        iscsi_set_targetname(ctx, kMalformedIqn);
        iscsi_set_session_type(ctx, ISCSI_SESSION_NORMAL);
        const std::string portal = "127.0.0.1:" + std::to_string(port);
        ASSERT_EQ(iscsi_full_connect_sync(ctx, portal.c_str(), 0), 0) << iscsi_get_error(ctx);
        scsi_task* task = iscsi_inquiry_sync(ctx, 0, 0, 0, 64);
        ASSERT_NE(task, nullptr);
        EXPECT_EQ(task->status, SCSI_STATUS_GOOD);
        scsi_free_scsi_task(task);
        iscsi_logout_sync(ctx);
        iscsi_destroy_context(ctx);
    }
};

// A bare header (F set) announcing `data_len` bytes of data segment.
std::vector<std::uint8_t> bhs(std::uint8_t opcode, std::uint32_t data_len = 0) {
    std::vector<std::uint8_t> b(kBhsLength, 0);
    b[0] = opcode;
    b[1] = 0x80;
    util::store_be24(&b[5], data_len);
    return b;
}

// The target closes the connection (perhaps after a Reject) within 5 s.
constexpr std::chrono::seconds kCloseWithin{5};

TEST_F(MalformedPdus, CommandBeforeLoginDropsConnection) {
    RawInitiator ini(port);
    ASSERT_TRUE(ini.send_raw(bhs(op::scsi_command)));
    EXPECT_TRUE(ini.closed_within(kCloseWithin));
    expect_other_session_works();
}

TEST_F(MalformedPdus, UnknownOpcodeDropsConnection) {
    RawInitiator ini(port);
    ASSERT_TRUE(ini.send_raw(bhs(0x1f)));
    EXPECT_TRUE(ini.closed_within(kCloseWithin));
    expect_other_session_works();
}

TEST_F(MalformedPdus, OversizedDataSegmentDropsConnection) {
    RawInitiator ini(port);
    ASSERT_TRUE(ini.send_raw(bhs(op::login_request | 0x40, 0xffffff)));  // 16 MiB of "login text"
    EXPECT_TRUE(ini.closed_within(kCloseWithin));
    expect_other_session_works();
}

TEST_F(MalformedPdus, GarbageLoginTextIsRefused) {
    RawInitiator ini(port);
    using namespace std::string_literals;
    ASSERT_TRUE(ini.send_login("noequal\0"s, 1, 3, true));  // transit to full feature
    const auto r = ini.next();
    ASSERT_TRUE(r) << "no login response";
    EXPECT_EQ(r->opcode(), op::login_response);
    EXPECT_EQ(test::login_status(*r) >> 8, 0x02);  // initiator error class
    EXPECT_TRUE(ini.closed_within(kCloseWithin));
    expect_other_session_works();
}

}  // namespace
}  // namespace vstor::iscsi
