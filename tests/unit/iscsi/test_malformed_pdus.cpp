// Malformed PDUs on one connection (unknown opcode before login, oversized segment, Data-Out for
// no command, bad header digest): that connection is rejected or dropped, and another session
// keeps working (checked with a real libiscsi initiator).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "iscsi/pdu.hpp"
#include "live_server.hpp"

namespace vstor::iscsi {
namespace {

using test::LiveServerTest;

constexpr const char* kIqn = "iqn.2026-11.org.vstor:malformed";

class MalformedPdus : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        const auto tid = add_target(cfg, kIqn);
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(16u << 20)));
        cfg.event_loops = 2;
        start_server(cfg);
    }

    int connect_raw() const {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        return fd;
    }
    // True if the target closed the connection (read returns 0 or reset) — possibly after
    // sending a Reject first.
    static bool closed_by_target(int fd) {
        std::array<char, 512> buf;
        for (int i = 0; i < 16; ++i) {
            const ssize_t n = ::read(fd, buf.data(), buf.size());
            if (n <= 0) return true;
        }
        return false;
    }
    // A working initiator still gets INQUIRY answered.
    void expect_other_session_works() const {
        iscsi_context* ctx = iscsi_create_context("iqn.2026-11.org.test:good");
        ASSERT_NE(ctx, nullptr);
        iscsi_set_targetname(ctx, kIqn);
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

std::vector<std::uint8_t> bhs(std::uint8_t opcode, std::uint32_t data_len = 0) {
    std::vector<std::uint8_t> b(48, 0);
    b[0] = opcode;
    b[1] = 0x80;
    util::store_be24(&b[5], data_len);
    return b;
}

TEST_F(MalformedPdus, CommandBeforeLoginDropsConnection) {
    const int fd = connect_raw();
    auto p = bhs(op::scsi_command);
    ASSERT_EQ(::write(fd, p.data(), p.size()), 48);
    EXPECT_TRUE(closed_by_target(fd));
    ::close(fd);
    expect_other_session_works();
}

TEST_F(MalformedPdus, UnknownOpcodeDropsConnection) {
    const int fd = connect_raw();
    auto p = bhs(0x1f);
    ASSERT_EQ(::write(fd, p.data(), p.size()), 48);
    EXPECT_TRUE(closed_by_target(fd));
    ::close(fd);
    expect_other_session_works();
}

TEST_F(MalformedPdus, OversizedDataSegmentDropsConnection) {
    const int fd = connect_raw();
    auto p = bhs(op::login_request | 0x40, 0xffffff);  // 16 MiB of "login text"
    ASSERT_EQ(::write(fd, p.data(), p.size()), 48);
    EXPECT_TRUE(closed_by_target(fd));
    ::close(fd);
    expect_other_session_works();
}

TEST_F(MalformedPdus, GarbageLoginTextIsRefused) {
    const int fd = connect_raw();
    auto p = bhs(op::login_request | 0x40, 8);
    p[1] = 0x87;  // transit to full feature from security stage
    const char text[8] = {'n', 'o', 'e', 'q', 'u', 'a', 'l', 0};
    p.insert(p.end(), text, text + 8);
    ASSERT_EQ(::write(fd, p.data(), p.size()), static_cast<ssize_t>(p.size()));
    std::array<std::uint8_t, 48> resp{};
    ASSERT_EQ(::read(fd, resp.data(), resp.size()), 48);
    EXPECT_EQ(resp[0] & 0x3f, op::login_response);
    EXPECT_EQ(resp[36], 0x02);  // initiator error class
    EXPECT_TRUE(closed_by_target(fd));
    ::close(fd);
    expect_other_session_works();
}

}  // namespace
}  // namespace vstor::iscsi
