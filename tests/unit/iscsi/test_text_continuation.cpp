// Text continuation (RFC 7143 11.10/11.11): a SendTargets answer longer than the initiator's
// MaxRecvDataSegmentLength arrives in parts (C=1 + Target Transfer Tag, each fetched with an
// empty Text Request) and nothing is cut off; a request sent in parts (C=1) is answered whole.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "iscsi/pdu.hpp"
#include "live_server.hpp"
#include "util/endian.hpp"

namespace vstor::iscsi {
namespace {

using test::LiveServerTest;

class TextContinuation : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        for (int i = 0; i < 40; ++i)  // ~40 * 90 bytes of SendTargets answer
            add_target(cfg, "iqn.2026-12.org.vstor:a-rather-long-target-name-to-fill-the-answer-" + std::to_string(i));
        cfg.event_loops = 1;
        start_server(cfg);
        fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    }
    void TearDown() override {
        ::close(fd);
        LiveServerTest::TearDown();
    }

    void send_pdu(std::uint8_t opcode, std::uint8_t flags, std::uint32_t itt, std::uint32_t ttt, const std::string& text) {
        std::vector<std::uint8_t> b(48, 0);
        b[0] = opcode;
        b[1] = flags;
        util::store_be24(&b[5], static_cast<std::uint32_t>(text.size()));
        util::store_be32(&b[16], itt);
        util::store_be32(&b[20], ttt);
        util::store_be32(&b[24], cmdsn);
        util::store_be32(&b[28], exp_statsn);
        if (opcode == op::login_request) b[8] = 0x80;  // ISID type: random
        b.insert(b.end(), text.begin(), text.end());
        b.resize((b.size() + 3) & ~std::size_t{3});
        ASSERT_EQ(::write(fd, b.data(), b.size()), static_cast<ssize_t>(b.size()));
    }
    struct Resp {
        std::uint8_t opcode, flags;
        std::uint32_t ttt;
        std::string data;
    };
    Resp read_pdu() {
        std::vector<std::uint8_t> h(48);
        read_all(h.data(), 48);
        const std::size_t len = (std::size_t{h[5]} << 16) | (h[6] << 8) | h[7];
        std::vector<std::uint8_t> d((len + 3) & ~std::size_t{3});
        read_all(d.data(), d.size());
        exp_statsn = util::load_be32(&h[24]) + 1;
        return Resp{static_cast<std::uint8_t>(h[0] & 0x3f), h[1], util::load_be32(&h[20]),
                    std::string(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(len))};
    }
    void read_all(std::uint8_t* p, std::size_t n) {
        while (n) {
            const ssize_t r = ::read(fd, p, n);
            ASSERT_GT(r, 0) << "connection closed";
            p += r;
            n -= static_cast<std::size_t>(r);
        }
    }
    void login_discovery() {
        using namespace std::string_literals;
        send_pdu(op::login_request | 0x40, 0x87, 1, 0,  // T=1, CSG=1 (operational), NSG=3 (full feature)
                 "InitiatorName=iqn.2026-12.org.test:text\0SessionType=Discovery\0"
                 "MaxRecvDataSegmentLength=512\0HeaderDigest=None\0DataDigest=None\0"s);
        const auto r = read_pdu();
        ASSERT_EQ(r.opcode, op::login_response);
        ASSERT_TRUE(r.flags & 0x80) << "login did not reach full feature phase";
    }

    int fd = -1;
    std::uint32_t cmdsn = 1, exp_statsn = 0;
};

TEST_F(TextContinuation, LongSendTargetsAnswerComesInPartsWithNothingLost) {
    using namespace std::string_literals;
    login_discovery();
    send_pdu(op::text_request | 0x40, 0x80, 7, 0xffffffff, "SendTargets=All\0"s);
    std::string all;
    int parts = 0;
    for (;;) {
        const auto r = read_pdu();
        ASSERT_EQ(r.opcode, op::text_response);
        ASSERT_LE(r.data.size(), 512u) << "a part larger than our MaxRecvDataSegmentLength";
        all += r.data;
        ++parts;
        if (r.flags & 0x80) {
            EXPECT_EQ(r.ttt, 0xffffffffu);
            break;
        }
        ASSERT_TRUE(r.flags & 0x40) << "neither final nor continued";
        ASSERT_NE(r.ttt, 0xffffffffu);
        ASSERT_LT(parts, 100);
        send_pdu(op::text_request | 0x40, 0x80, 7, r.ttt, "");  // next part, please
    }
    EXPECT_GT(parts, 5);
    for (int i = 0; i < 40; ++i)
        EXPECT_NE(all.find("TargetName=iqn.2026-12.org.vstor:a-rather-long-target-name-to-fill-the-answer-" +
                           std::to_string(i) + '\0'),
                  std::string::npos)
            << "target " << i << " missing from the reassembled answer";
}

TEST_F(TextContinuation, RequestSentInPartsIsAnsweredWhole) {
    using namespace std::string_literals;
    login_discovery();
    send_pdu(op::text_request | 0x40, 0x40, 9, 0xffffffff, "SendTar");  // C=1: more follows
    const auto ack = read_pdu();
    ASSERT_EQ(ack.opcode, op::text_response);
    EXPECT_FALSE(ack.flags & 0x80);
    EXPECT_TRUE(ack.data.empty());
    ASSERT_NE(ack.ttt, 0xffffffffu);
    send_pdu(op::text_request | 0x40, 0x80, 9, ack.ttt,
             "gets=iqn.2026-12.org.vstor:a-rather-long-target-name-to-fill-the-answer-3\0"s);
    const auto r = read_pdu();
    ASSERT_EQ(r.opcode, op::text_response);
    EXPECT_TRUE(r.flags & 0x80);
    EXPECT_NE(r.data.find("TargetName=iqn.2026-12.org.vstor:a-rather-long-target-name-to-fill-the-answer-3\0"s),
              std::string::npos);
    EXPECT_EQ(r.data.find("answer-4"), std::string::npos);
}

}  // namespace
}  // namespace vstor::iscsi
