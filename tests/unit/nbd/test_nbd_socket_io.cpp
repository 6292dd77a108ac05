// The NBD connection's socket path against a live server: requests that arrive in pieces (a
// read at once finds part of a header or payload, or nothing: EAGAIN, then the reactor), then a
// pipelined burst, replies far larger than the client's receive buffer while it does not read
// (sendmsg takes part, the rest waits for the socket), a client that goes away in the middle of
// a request, and one that stops sending with requests in flight. Every byte read back is
// compared with what was written.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "backends/mem/mem_backend.hpp"
#include "live_server.hpp"
#include "test_data.hpp"

namespace vstor::nbd {
namespace {

using ::vstor::test::random_bytes;

using test::LiveServerTest;
using test::RawClient;
using namespace std::chrono_literals;

constexpr std::uint64_t kSocketDiskSize = 64u << 20;

class NbdSocketIoTest : public LiveServerTest {
protected:
    void SetUp() override {
        const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:nbdsock").value;
        ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(kSocketDiskSize)));
        ServerConfig cfg;
        cfg.exports.push_back(ExportConfig{"disk", "", tid, 0});
        cfg.event_loops = 1;
        start_server(cfg);
    }

    // Writes `data` at `offset` and reads it back on a fresh client: the server kept serving.
    void expect_round_trip(std::uint64_t offset, const std::vector<std::uint8_t>& data) {
        auto c = client("disk", false);
        ASSERT_TRUE(c->request(cmd::write, 0, 1, offset, static_cast<std::uint32_t>(data.size()), data));
        const auto w = c->reply();
        ASSERT_TRUE(w.ok);
        EXPECT_EQ(w.error, 0u);
        ASSERT_TRUE(c->request(cmd::read, 0, 2, offset, static_cast<std::uint32_t>(data.size())));
        const auto r = c->reply(data.size());
        ASSERT_TRUE(r.ok);
        EXPECT_TRUE(r.data == data);
    }

    // Reads `n` successful READ replies of `len` bytes (simple or structured), cookies first ..
    // first + n - 1 in any order, each once; `want(k)` is the data the k-th one must carry.
    template <class Want>
    static void expect_replies(RawClient& c, std::uint64_t first, unsigned n, std::size_t len, Want want) {
        std::vector<bool> seen(n);
        for (unsigned i = 0; i < n; ++i) {
            const auto r = c.reply(len);
            ASSERT_TRUE(r.ok) << i;
            EXPECT_EQ(r.error, 0u);
            ASSERT_GE(r.cookie, first);
            ASSERT_LT(r.cookie, first + n);
            const auto k = static_cast<unsigned>(r.cookie - first);
            EXPECT_FALSE(seen[k]) << k;
            seen[k] = true;
            EXPECT_TRUE(r.data == want(k)) << k;
        }
    }

    static std::vector<std::uint8_t> header(std::uint16_t type, std::uint64_t cookie, std::uint64_t offset,
                                            std::uint32_t length) {
        std::array<std::uint8_t, kRequestHeaderSize> b{};
        encode_request(RequestHeader{0, type, cookie, offset, length}, b);
        return {b.begin(), b.end()};
    }
};

TEST_F(NbdSocketIoTest, RequestsInPiecesThenABurst) {
    auto c = client("disk", false);
    // Eight writes, each header and payload sent in pieces of 7 bytes to 3 KiB with pauses:
    // the server finds partial headers and payloads, and an empty socket, over and over.
    std::vector<std::vector<std::uint8_t>> blocks;
    for (unsigned i = 0; i < 8; ++i) {
        blocks.push_back(random_bytes(8192, 10 + i));
        auto bytes = header(cmd::write, 100 + i, 8192ull * i, 8192);
        bytes.insert(bytes.end(), blocks.back().begin(), blocks.back().end());
        for (std::size_t at = 0, piece = 0; at < bytes.size(); at += piece) {
            piece = std::min<std::size_t>(at < 70 ? 7 : i % 2 ? 97 : 3000, bytes.size() - at);
            ASSERT_TRUE(c->send_all(bytes.data() + at, piece));
            std::this_thread::sleep_for(1ms);
        }
        const auto w = c->reply();
        ASSERT_TRUE(w.ok);
        EXPECT_EQ(w.error, 0u);
        EXPECT_EQ(w.cookie, 100u + i);
    }
    // Then 200 reads of those blocks sent as one burst: answered in any order, every byte right.
    std::vector<std::uint8_t> burst;
    for (unsigned i = 0; i < 200; ++i) {
        const auto h = header(cmd::read, 1000 + i, 8192ull * (i % 8), 8192);
        burst.insert(burst.end(), h.begin(), h.end());
    }
    ASSERT_TRUE(c->send_all(burst.data(), burst.size()));
    expect_replies(*c, 1000, 200, 8192, [&](unsigned k) { return blocks[k % 8]; });
}

TEST_F(NbdSocketIoTest, RepliesLargerThanTheClientTakesWhileItWaits) {
    auto c = std::make_unique<RawClient>();
    ASSERT_TRUE(c->connect(port));
    const int small = 16 << 10;  // the client's receive buffer: the server's sendmsg takes part
    ::setsockopt(c->fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ASSERT_TRUE(c->handshake("disk", true));
    const auto data = random_bytes(4u << 20, 3);
    ASSERT_TRUE(c->request(cmd::write, 0, 1, 0, static_cast<std::uint32_t>(data.size()), data));
    ASSERT_EQ(c->reply().error, 0u);
    // Six 4 MiB reads at once, and nothing read for a while: the replies fill both sockets.
    for (unsigned i = 0; i < 6; ++i) ASSERT_TRUE(c->request(cmd::read, 0, 10 + i, 0, 4u << 20));
    std::this_thread::sleep_for(200ms);
    expect_replies(*c, 10, 6, data.size(), [&](unsigned) { return data; });
}

TEST_F(NbdSocketIoTest, ClientGoneInTheMiddleOfARequest) {
    {  // Half a header.
        auto c = client("disk", false);
        const auto h = header(cmd::read, 1, 0, 4096);
        ASSERT_TRUE(c->send_all(h.data(), 10));
    }
    {  // A small WRITE's header and part of its payload.
        auto c = client("disk", false);
        auto bytes = header(cmd::write, 2, 0, 4096);
        bytes.resize(bytes.size() + 1000, 0xee);
        ASSERT_TRUE(c->send_all(bytes.data(), bytes.size()));
    }
    {  // A large WRITE's header and part of its payload, after a pause.
        auto c = client("disk", false);
        auto bytes = header(cmd::write, 3, 0, 1u << 20);
        ASSERT_TRUE(c->send_all(bytes.data(), bytes.size()));
        std::this_thread::sleep_for(20ms);
        bytes.assign(300u << 10, 0xee);
        ASSERT_TRUE(c->send_all(bytes.data(), bytes.size()));
        std::this_thread::sleep_for(20ms);
    }
    // Nothing of the unfinished writes landed, and the server goes on serving.
    auto c = client("disk", false);
    ASSERT_TRUE(c->request(cmd::read, 0, 4, 0, 4096));
    const auto r = c->reply(4096);
    ASSERT_TRUE(r.ok);
    EXPECT_EQ(r.data, std::vector<std::uint8_t>(4096, 0));
    expect_round_trip(1u << 20, random_bytes(65536, 4));
}

TEST_F(NbdSocketIoTest, RequestsInFlightAreAnsweredAfterTheClientStopsSending) {
    auto c = client("disk", false);
    const auto data = random_bytes(4096, 5);
    ASSERT_TRUE(c->request(cmd::write, 0, 1, 40960, 4096, data));
    ASSERT_EQ(c->reply().error, 0u);
    for (unsigned i = 0; i < 40; ++i) ASSERT_TRUE(c->request(cmd::read, 0, 100 + i, 40960, 4096));
    ::shutdown(c->fd(), SHUT_WR);  // EOF right behind the requests
    expect_replies(*c, 100, 40, 4096, [&](unsigned) { return data; });
    EXPECT_TRUE(c->closed_by_server());
}

}  // namespace
}  // namespace vstor::nbd
