// SBC-4 READ/WRITE: data round trip, range checks, reserved bits and residuals.
#include "scsi/engine_fixture.hpp"

namespace vstor::test {
namespace {

class ReadWrite : public EngineTest {};

TEST_F(ReadWrite, Write10ThenRead10ReturnsSameBytes) {
    std::vector<std::uint8_t> data(1024);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
    auto w = send({0x2a, 0, 0, 0, 0, 10, 0, 0, 2, 0}, 0, 0, data);
    ASSERT_EQ(w.status(), 0);
    auto r = send({0x28, 0, 0, 0, 0, 10, 0, 0, 2, 0}, 0, 1024);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, data);
    EXPECT_EQ(r.c.residual, 0);
}

TEST_F(ReadWrite, UnwrittenBlocksReadAsZeroes) {
    auto r = send({0x88, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 1, 0, 0}, 0, 512);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.data, std::vector<std::uint8_t>(512, 0));
}

TEST_F(ReadWrite, ReadPastEndIsLbaOutOfRange) {
    const std::uint64_t blocks = (64ull << 20) / 512;
    const auto last = static_cast<std::uint32_t>(blocks - 1);
    auto r = send({0x28, 0, static_cast<std::uint8_t>(last >> 24), static_cast<std::uint8_t>(last >> 16),
                   static_cast<std::uint8_t>(last >> 8), static_cast<std::uint8_t>(last), 0, 0, 2, 0},
                  0, 1024);
    EXPECT_EQ(r.status(), 2);
    EXPECT_EQ(r.key(), 0x5);
    EXPECT_EQ(r.asc(), 0x21);
}

TEST_F(ReadWrite, Lba16OverflowIsOutOfRangeNotWrap) {
    auto r = send({0x88, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, 0, 0}, 0, 1024);
    EXPECT_EQ(r.key(), 0x5);
    EXPECT_EQ(r.asc(), 0x21);
}

TEST_F(ReadWrite, ReservedBitInCdbGivesFieldPointer) {
    auto r = send({0x28, 0, 0, 0, 0, 0, 0x20, 0, 1, 0}, 0, 512);  // byte 6 bit 5 reserved
    EXPECT_EQ(r.key(), 0x5);
    EXPECT_EQ(r.asc(), 0x24);
    EXPECT_EQ(r.field_pointer(), (std::pair<int, int>{6, 5}));
}

TEST_F(ReadWrite, ShortBufferReportsOverflowResidual) {
    auto r = send({0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0}, 0, 512);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.c.data_in_len, 512u);
    EXPECT_EQ(r.c.residual, -512);
}

TEST_F(ReadWrite, LargeBufferReportsUnderflowResidual) {
    auto r = send({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 0, 2048);
    ASSERT_EQ(r.status(), 0);
    EXPECT_EQ(r.c.data_in_len, 512u);
    EXPECT_EQ(r.c.residual, 1536);
}

// A front end that accepts lent data-in (NBD) gets the mem LUN's own memory, not a copy; one
// that does not (iSCSI) gets the bytes in its buffer.
TEST_F(ReadWrite, ReadIntoLentMemoryOnlyWhenTheFrontEndAcceptsIt) {
    std::vector<std::uint8_t> data(64 * 512);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 13 + 1);
    ASSERT_EQ(send({0x2a, 0, 0, 0, 0, 100, 0, 0, 64, 0}, 0, 0, data).status(), 0);
    for (bool accept : {true, false}) {
        std::vector<std::byte> buf(data.size(), std::byte{0xee});
        Command cmd;
        cmd.nexus = nexus;
        cmd.lun = encode_sam_lun(0);
        const std::uint8_t cdb[16] = {0x88, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 64, 0, 0};
        std::memcpy(cmd.cdb.data(), cdb, sizeof cdb);
        cmd.cdb_len = 16;
        cmd.dir = DataDirection::read;
        cmd.expected_length = static_cast<std::uint32_t>(buf.size());
        cmd.data = buf;
        cmd.accept_data_view = accept;
        std::promise<Completion> p;
        adapter->submit(cmd, [&](const Completion& c) { p.set_value(c); });
        const Completion c = p.get_future().get();
        ASSERT_EQ(c.status, 0);
        EXPECT_EQ(c.data_in_len, data.size());
        std::vector<std::uint8_t> got;
        if (accept) {
            ASSERT_TRUE(c.data_view);
            for (const auto& piece : c.data_view->pieces)
                for (std::byte b : piece) got.push_back(static_cast<std::uint8_t>(b));
            EXPECT_EQ(buf[0], std::byte{0xee}) << "lent data-in must not be copied too";
        } else {
            EXPECT_FALSE(c.data_view);
            for (std::byte b : buf) got.push_back(static_cast<std::uint8_t>(b));
        }
        EXPECT_EQ(got, data) << (accept ? "lent" : "copied");
    }
}

TEST_F(ReadWrite, UnknownOpcodeIsInvalidCommandOperationCode) {
    auto r = send({0xc7, 0, 0, 0, 0, 0});
    EXPECT_EQ(r.key(), 0x5);
    EXPECT_EQ(r.asc(), 0x20);
}

TEST_F(ReadWrite, NewLunGivesReportedLunsChangedToExistingNexus) {
    ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<backends::MemBackend>(1u << 20, 512)));
    auto r = send({0x00, 0, 0, 0, 0, 0});
    EXPECT_EQ(r.key(), 0x6);
    EXPECT_EQ(r.asc(), 0x3f);
    EXPECT_EQ(r.ascq(), 0x0e);
    EXPECT_EQ(send({0x00, 0, 0, 0, 0, 0}).status(), 0);
}

}  // namespace
}  // namespace vstor::test
