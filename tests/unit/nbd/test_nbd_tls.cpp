// NBD over TLS against a live in-process server with a PSK: a GnuTLS client upgrades with
// NBD_OPT_STARTTLS and moves data; garbage instead of a TLS handshake or a wrong key ends only that
// connection; FORCEDTLS refuses plain options.
#include <gnutls/gnutls.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "backends/mem/mem_backend.hpp"
#include "live_server.hpp"
#include "nbd_tls_client.hpp"

namespace vstor::nbd {
namespace {

using test::LiveServerTest;
using test::OptReply;
using test::RawClient;
using test::kKeyHex;
using test::TlsClient;

class NbdTlsTest : public LiveServerTest {
protected:
    void start(TlsConfig::Mode mode) {
        // One file per process: GnuTLS reads the PSK file at every handshake, and ctest -j runs
        // these tests in parallel processes; a shared path let one test's rewrite (truncate, then
        // write) empty the file under another's handshake (unknown user: binder mismatch).
        psk_path = ::testing::TempDir() + "vstor-nbd-test-" + std::to_string(::getpid()) + ".psk";
        std::ofstream(psk_path) << "alice:" << kKeyHex << "\n";
        const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:tls").value;
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(8u << 20)));
        ServerConfig cfg;
        cfg.exports.push_back(ExportConfig{"disk", "", tid, 0});
        cfg.event_loops = 2;
        cfg.tls.mode = mode;
        cfg.tls.psk_file = psk_path;
        start_server(cfg);
    }
    void TearDown() override {
        LiveServerTest::TearDown();
        if (!psk_path.empty()) std::remove(psk_path.c_str());
    }
    std::string psk_path;
};

TEST_F(NbdTlsTest, PskClientMovesDataOverTls) {
    start(TlsConfig::Mode::require);
    RawClient c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.greet());
    auto refused = c.option(opt::go, RawClient::go_data("disk"));
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].type, rep::err_tls_reqd);
    auto ack = c.option(opt::starttls);
    ASSERT_EQ(ack.size(), 1u);
    ASSERT_EQ(ack[0].type, rep::ack);
    TlsClient t(c.fd(), "alice", kKeyHex);
    ASSERT_TRUE(t.handshake()) << t.error();
    auto sr = t.option(opt::structured_reply, {});
    ASSERT_EQ(sr.size(), 1u);
    EXPECT_EQ(sr[0].type, rep::ack);
    auto go = t.option(opt::go, RawClient::go_data("disk"));
    ASSERT_FALSE(go.empty());
    ASSERT_EQ(go.back().type, rep::ack);

    // WRITE 64 KiB, then READ it back (one OFFSET_DATA chunk), all encrypted.
    std::vector<std::uint8_t> data(65536);
    std::mt19937 g(5);
    for (auto& b : data) b = static_cast<std::uint8_t>(g());
    std::array<std::uint8_t, kRequestHeaderSize> h{};
    encode_request(RequestHeader{0, cmd::write, 1, 4096, 65536}, h);
    ASSERT_TRUE(t.send_all(h.data(), h.size()));
    ASSERT_TRUE(t.send_all(data.data(), data.size()));
    std::uint8_t simple[16];
    ASSERT_TRUE(t.recv_all(simple, 16));
    EXPECT_EQ(util::load_be32(simple), kSimpleReplyMagic);
    EXPECT_EQ(util::load_be32(simple + 4), 0u);
    encode_request(RequestHeader{0, cmd::read, 2, 4096, 65536}, h);
    ASSERT_TRUE(t.send_all(h.data(), h.size()));
    std::uint8_t chunk[28];
    ASSERT_TRUE(t.recv_all(chunk, 28));
    EXPECT_EQ(util::load_be32(chunk), kStructuredReplyMagic);
    EXPECT_EQ(util::load_be16(chunk + 6), chunk::offset_data);
    EXPECT_EQ(util::load_be32(chunk + 16), 8u + 65536u);
    EXPECT_EQ(util::load_be64(chunk + 20), 4096u);
    std::vector<std::uint8_t> back(65536);
    ASSERT_TRUE(t.recv_all(back.data(), back.size()));
    EXPECT_TRUE(back == data);
    encode_request(RequestHeader{0, cmd::disc, 3, 0, 0}, h);
    ASSERT_TRUE(t.send_all(h.data(), h.size()));
}

TEST_F(NbdTlsTest, GarbageInsteadOfTlsHandshakeDropsOnlyThatConnection) {
    start(TlsConfig::Mode::on);
    RawClient bad;
    ASSERT_TRUE(bad.connect(port));
    ASSERT_TRUE(bad.greet());
    auto ack = bad.option(opt::starttls);
    ASSERT_EQ(ack.size(), 1u);
    ASSERT_EQ(ack[0].type, rep::ack);
    std::vector<std::uint8_t> junk(600, 0x5a);  // not a ClientHello
    ASSERT_TRUE(bad.send_all(junk.data(), junk.size()));
    EXPECT_TRUE(bad.closed_by_server());
    // TLS is only offered: a plain client still gets its export and data.
    RawClient plain;
    ASSERT_TRUE(plain.connect(port));
    ASSERT_TRUE(plain.handshake("disk", true));
    ASSERT_TRUE(plain.request(cmd::read, 0, 1, 0, 4096));
    auto r = plain.reply();
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.data.size(), 4096u);
}

TEST_F(NbdTlsTest, WrongKeyFailsTheHandshake) {
    start(TlsConfig::Mode::require);
    RawClient c;
    ASSERT_TRUE(c.connect(port));
    ASSERT_TRUE(c.greet());
    ASSERT_EQ(c.option(opt::starttls).at(0).type, rep::ack);
    TlsClient t(c.fd(), "alice", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff");
    EXPECT_FALSE(t.handshake());
    // The right key on a new connection works.
    RawClient d;
    ASSERT_TRUE(d.connect(port));
    ASSERT_TRUE(d.greet());
    ASSERT_EQ(d.option(opt::starttls).at(0).type, rep::ack);
    TlsClient u(d.fd(), "alice", kKeyHex);
    EXPECT_TRUE(u.handshake()) << u.error();
    auto list = u.option(opt::list, {});
    ASSERT_FALSE(list.empty());
    EXPECT_EQ(list.back().type, rep::ack);
}

}  // namespace
}  // namespace vstor::nbd
