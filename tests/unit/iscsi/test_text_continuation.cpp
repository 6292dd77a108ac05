// Text continuation (RFC 7143 11.10/11.11): a SendTargets answer longer than the initiator's
// MaxRecvDataSegmentLength arrives in parts (C=1 + Target Transfer Tag, each fetched with an
// empty Text Request) and nothing is cut off; a request sent in parts (C=1) is answered whole.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "live_server.hpp"
#include "raw_initiator.hpp"

namespace vstor::iscsi {
namespace {

using test::LiveServerTest;
using test::RawInitiator;

class TextContinuation : public LiveServerTest {
protected:
    void SetUp() override {
        ServerConfig cfg;
        for (int i = 0; i < 40; ++i)  // ~40 * 90 bytes of SendTargets answer
            add_target(cfg, "iqn.2026-12.org.vstor:a-rather-long-target-name-to-fill-the-answer-" + std::to_string(i));
        cfg.event_loops = 1;
        start_server(cfg);
        ini = std::make_unique<RawInitiator>(port);
        ASSERT_TRUE(ini->connected());
    }
    void TearDown() override {
        ini.reset();
        LiveServerTest::TearDown();
    }

    // A discovery session that takes at most 512 bytes of data a PDU.
    void login_discovery() {
        using namespace std::string_literals;
        ASSERT_TRUE(ini->send_login("InitiatorName=iqn.2026-12.org.test:text\0SessionType=Discovery\0"
                                    "MaxRecvDataSegmentLength=512\0HeaderDigest=None\0DataDigest=None\0"s,
                                    1, 3, true));  // operational stage to full feature
        const auto r = ini->next();
        ASSERT_TRUE(r) << "no login response";
        ASSERT_EQ(r->opcode(), op::login_response);
        ASSERT_TRUE(r->final_bit()) << "login did not reach full feature phase";  // T
    }
    // The next PDU, which must be a Text Response.
    Pdu text_response() {
        auto r = ini->next();
        EXPECT_TRUE(r) << "no text response";
        if (!r) return Pdu{};
        EXPECT_EQ(r->opcode(), op::text_response);
        return *r;
    }
    static std::string text_of(const Pdu& p) { return std::string(p.data.begin(), p.data.end()); }
    static std::uint32_t ttt_of(const Pdu& p) { return p.as<TextResponseBhs>().ttt(); }

    std::unique_ptr<RawInitiator> ini;
};

TEST_F(TextContinuation, LongSendTargetsAnswerComesInPartsWithNothingLost) {
    using namespace std::string_literals;
    login_discovery();
    ASSERT_TRUE(ini->send_text(7, 0xffffffff, "SendTargets=All\0"s));
    std::string all;
    int parts = 0;
    for (;;) {
        const auto r = text_response();
        ASSERT_EQ(r.opcode(), op::text_response);
        ASSERT_LE(r.data.size(), 512u) << "a part larger than our MaxRecvDataSegmentLength";
        all += text_of(r);
        ++parts;
        if (r.final_bit()) {
            EXPECT_EQ(ttt_of(r), 0xffffffffu);
            break;
        }
        ASSERT_TRUE(r.as<TextResponseBhs>().continue_bit()) << "neither final nor continued";
        ASSERT_NE(ttt_of(r), 0xffffffffu);
        ASSERT_LT(parts, 100);
        ASSERT_TRUE(ini->send_text(7, ttt_of(r), ""));  // next part, please
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
    ASSERT_TRUE(ini->send_text(9, 0xffffffff, "SendTar", true));  // C=1: more follows
    const auto ack = text_response();
    ASSERT_EQ(ack.opcode(), op::text_response);
    EXPECT_FALSE(ack.final_bit());
    EXPECT_TRUE(ack.data.empty());
    ASSERT_NE(ttt_of(ack), 0xffffffffu);
    ASSERT_TRUE(ini->send_text(9, ttt_of(ack), "gets=iqn.2026-12.org.vstor:a-rather-long-target-name-to-fill-the-answer-3\0"s));
    const auto r = text_response();
    ASSERT_EQ(r.opcode(), op::text_response);
    EXPECT_TRUE(r.final_bit());
    EXPECT_NE(text_of(r).find("TargetName=iqn.2026-12.org.vstor:a-rather-long-target-name-to-fill-the-answer-3\0"s),
              std::string::npos);
    EXPECT_EQ(text_of(r).find("answer-4"), std::string::npos);
}

}  // namespace
}  // namespace vstor::iscsi
