// A backend may say why a call failed: done(status, message). The engine logs the message with the
// sense it became, for the network-loop path and the worker path (wait_io) alike, at most five
// lines per LUN per interval; callbacks taking (IoStatus) only still work.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <thread>

#include "scsi/engine_fixture.hpp"

namespace vstor::test {
namespace {

class FailingBackend final : public Backend {
public:
    std::string kind() const override { return "failing"; }
    std::uint32_t block_size() const override { return 512; }
    std::uint64_t block_count() const override { return 1024; }
    BackendCaps caps() const override { return {}; }
    void read(std::uint64_t lba, std::span<std::byte>, IoCallback done) override {
        // Completed from another thread, as a backend with its own I/O threads would.
        std::thread([lba, done = std::move(done)] {
            done(IoStatus::medium_error, "block " + std::to_string(lba) + ": checksum mismatch");
        }).join();
    }
    void write(std::uint64_t, std::span<const std::byte>, bool, IoCallback done) override {
        done(IoStatus::no_space, "pool exhausted");  // inline
    }
    void flush(IoCallback done) override { done(IoStatus::ok); }
};

class BackendErrorMessageTest : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        previous = spdlog::default_logger();
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
        ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<FailingBackend>()));
        clear_ua(1);
    }
    void TearDown() override {
        spdlog::set_default_logger(previous);
        EngineTest::TearDown();
    }
    std::size_t lines_with(const std::string& text) const {
        std::istringstream in(log.str());
        std::size_t n = 0;
        for (std::string line; std::getline(in, line);) n += line.find(text) != std::string::npos;
        return n;
    }
    std::ostringstream log;
    std::shared_ptr<spdlog::logger> previous;
};

TEST_F(BackendErrorMessageTest, MessageReachesTheLogWithItsSense) {
    auto r = send({0x28, 0, 0, 0, 0, 7, 0, 0, 1, 0}, 1, 512);  // READ(10) LBA 7: network-loop path
    EXPECT_EQ(r.key(), 0x03);
    EXPECT_EQ(lines_with("LUN 1: command 0x28 failed: block 7: checksum mismatch (sense 3/11/00)"), 1u) << log.str();
    auto w = send({0x2a, 0, 0, 0, 0, 9, 0, 0, 1, 0}, 1, 0, std::vector<std::uint8_t>(512, 1));
    EXPECT_EQ(w.key(), 0x07);
    EXPECT_EQ(lines_with("command 0x2a failed: pool exhausted (sense 7/27/07)"), 1u) << log.str();
    // VERIFY(10) with BYTCHK=0 reads through wait_io on an engine worker.
    auto v = send({0x2f, 0, 0, 0, 0, 3, 0, 0, 1, 0}, 1);
    EXPECT_EQ(v.key(), 0x03);
    EXPECT_EQ(lines_with("command 0x2f failed: block 3: checksum mismatch"), 1u) << log.str();
}

TEST_F(BackendErrorMessageTest, RateLimitedPerLun) {
    for (int i = 0; i < 20; ++i) send({0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0}, 1, 512);
    EXPECT_EQ(lines_with("checksum mismatch"), 5u) << log.str();
}

TEST(IoCallbackTest, TakesEitherSignature) {
    IoStatus got = IoStatus::ok;
    std::string why;
    IoCallback plain = [&](IoStatus s) { got = s; };
    plain(IoStatus::aborted, "ignored by a callback that takes the status only");
    EXPECT_EQ(got, IoStatus::aborted);
    IoCallback with_message = [&](IoStatus s, std::string_view m) { got = s, why = m; };
    with_message(IoStatus::no_resources, "try later");
    EXPECT_EQ(got, IoStatus::no_resources);
    EXPECT_EQ(why, "try later");
    EXPECT_FALSE(IoCallback{});
    EXPECT_TRUE(plain);
}

}  // namespace
}  // namespace vstor::test
