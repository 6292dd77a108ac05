// REPORT SUPPORTED OPERATION CODES per LUN: a thin LUN (mem) and a thick one (a file image
// created with `thick`, which declares no unmap) get different answers, and each answer is what
// dispatch then enforces on that LUN: a command not listed is refused as an unknown opcode, a
// usage bit reported 0 is refused as a reserved bit.
#include <unistd.h>

#include <filesystem>
#include <map>

#include "backends/file/file_backend.hpp"
#include "engine_fixture.hpp"
#include "util/endian.hpp"

namespace vstor::test {
namespace {

constexpr std::uint16_t kThin = 0;
constexpr std::uint16_t kThick = 1;
constexpr std::uint8_t kUnmap = 0x42;
constexpr std::uint8_t kWriteSame16 = 0x93;

class ReportSupported : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        dir = std::filesystem::temp_directory_path() / ("vstor-rsoc-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        backends::FileOptions o;
        o.path = (dir / "thick.img").string();
        o.size_bytes = 4ull << 20;
        o.thick = true;
        std::string err;
        std::shared_ptr<Backend> thick = backends::FileBackend::open(o, err);
        ASSERT_TRUE(thick) << err;
        ASSERT_FALSE(thick->caps().thin);
        ASSERT_TRUE(mem->caps().thin);
        ASSERT_TRUE(adapter->add_lun(tid, kThick, thick));
        clear_ua(kThick);
        clear_ua(kThin);  // REPORTED LUNS DATA HAS CHANGED, from adding the thick LUN
    }
    void TearDown() override {
        EngineTest::TearDown();
        adapter.reset();
        std::filesystem::remove_all(dir);
    }

    // All commands (REPORTING OPTIONS 0): opcode/service action -> CDB length.
    std::map<std::pair<int, int>, int> all_commands(std::uint16_t lun) {
        const auto r = send({0xa3, 0x0c, 0x00, 0, 0, 0, 0x00, 0x01, 0x00, 0x00, 0, 0}, lun, 65536);
        EXPECT_EQ(r.status(), scsi_status::good);
        std::map<std::pair<int, int>, int> out;
        if (r.data.size() < 4) return out;
        const std::size_t len = 4 + util::load_be32(r.data.data());
        for (std::size_t at = 4; at + 8 <= std::min(len, r.data.size()); at += 8) {
            const int sa = (r.data[at + 5] & 0x01) ? util::load_be16(&r.data[at + 2]) : -1;
            out[{r.data[at], sa}] = util::load_be16(&r.data[at + 6]);
        }
        return out;
    }

    // One command (REPORTING OPTIONS 1 or 2): support field and usage data.
    std::pair<int, std::vector<std::uint8_t>> one_command(std::uint16_t lun, std::uint8_t opcode, int sa) {
        std::vector<std::uint8_t> cdb{0xa3, 0x0c, static_cast<std::uint8_t>(sa < 0 ? 1 : 2), opcode, 0, 0,
                                      0, 0, 0x01, 0x00, 0, 0};
        if (sa >= 0) util::store_be16(&cdb[4], static_cast<std::uint16_t>(sa));
        const auto r = send_cdb(cdb, lun, 256);
        EXPECT_EQ(r.status(), scsi_status::good);
        if (r.data.size() < 4) return {-1, {}};
        const std::size_t n = util::load_be16(&r.data[2]);
        return {r.data[1] & 0x07, std::vector<std::uint8_t>(r.data.begin() + 4, r.data.begin() + 4 + n)};
    }

    std::filesystem::path dir;
};

TEST_F(ReportSupported, UnmapIsListedOnTheThinLunOnly) {
    const auto thin = all_commands(kThin);
    const auto thick = all_commands(kThick);
    EXPECT_TRUE(thin.count({kUnmap, -1}));
    EXPECT_FALSE(thick.count({kUnmap, -1}));
    EXPECT_EQ(thin.size(), thick.size() + 1) << "UNMAP is the one command a thick LUN lacks";
    EXPECT_EQ(one_command(kThin, kUnmap, -1).first, 0x03);   // supported as the standard says
    EXPECT_EQ(one_command(kThick, kUnmap, -1).first, 0x01);  // not supported
    // GET LBA STATUS stays on both: a thick LUN answers truthfully that every block is mapped.
    EXPECT_TRUE(thick.count({0x9e, 0x12}));

    // What was reported is what dispatch does.
    // One descriptor: LBA 0, 1 block.
    const std::vector<std::uint8_t> list{0, 0x16, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0};
    auto r = send({kUnmap, 0, 0, 0, 0, 0, 0, 0, 24, 0}, kThick, 0, list);
    EXPECT_EQ(r.status(), scsi_status::check_condition);
    EXPECT_EQ(r.key(), 0x05);
    EXPECT_EQ(r.asc(), 0x20);  // INVALID COMMAND OPERATION CODE
    r = send({kUnmap, 0, 0, 0, 0, 0, 0, 0, 24, 0}, kThin, 0, list);
    EXPECT_EQ(r.status(), scsi_status::good);
}

TEST_F(ReportSupported, WriteSameUnmapBitIsUsableOnTheThinLunOnly) {
    for (const std::uint8_t op : {std::uint8_t{0x41}, kWriteSame16}) {
        SCOPED_TRACE(int(op));
        const auto thin = one_command(kThin, op, -1);
        const auto thick = one_command(kThick, op, -1);
        ASSERT_EQ(thin.first, 0x03);
        ASSERT_EQ(thick.first, 0x03);
        ASSERT_GE(thick.second.size(), 2u);
        EXPECT_TRUE(thin.second[1] & 0x08);
        EXPECT_FALSE(thick.second[1] & 0x08);
        auto without_unmap_bit = thin.second;
        without_unmap_bit[1] &= ~0x08;
        EXPECT_EQ(thick.second, without_unmap_bit) << "the UNMAP bit is the only difference";
    }
    // WRITE SAME(16) of 8 blocks with UNMAP=1: refused on the thick LUN, pointing at the bit.
    const std::vector<std::uint8_t> zero_block(512, 0);
    auto r = send({kWriteSame16, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, kThick, 0, zero_block);
    ASSERT_EQ(r.status(), scsi_status::check_condition);
    EXPECT_EQ(r.asc(), 0x24);
    EXPECT_EQ(r.field_pointer(), (std::pair<int, int>{1, 3}));
    // Without the bit it writes the zeroes.
    const std::vector<std::uint8_t> ones(8 * 512, 0xff);
    ASSERT_EQ(send({0x2a, 0, 0, 0, 0, 0, 0, 0, 8, 0}, kThick, 0, ones).status(), scsi_status::good);
    r = send({kWriteSame16, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, kThick, 0, zero_block);
    ASSERT_EQ(r.status(), scsi_status::good);
    EXPECT_EQ(send({0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0}, kThick, 8 * 512).data, std::vector<std::uint8_t>(8 * 512, 0));
    // And the thin LUN takes the bit.
    r = send({kWriteSame16, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0}, kThin, 0, zero_block);
    EXPECT_EQ(r.status(), scsi_status::good);
}

// Every command each LUN lists, asked about alone, is supported with the same CDB length; every
// bit its usage data leave 0 is refused with a field pointer to that bit.
TEST_F(ReportSupported, EachLunEnforcesTheUsageItReports) {
    for (const std::uint16_t lun : {kThin, kThick}) {
        std::size_t checked = 0;
        for (const auto& [key, cdb_len] : all_commands(lun)) {
            const auto opcode = static_cast<std::uint8_t>(key.first);
            const int sa = key.second;
            const auto [support, usage] = one_command(lun, opcode, sa);
            SCOPED_TRACE(::testing::Message() << "lun " << lun << " opcode " << int(opcode) << " sa " << sa);
            ASSERT_EQ(support, 0x03);
            ASSERT_EQ(usage.size(), static_cast<std::size_t>(cdb_len));
            if (opcode == 0x7f) continue;  // variable-length CDB: the service action is in bytes 8-9
            std::vector<std::uint8_t> cdb(cdb_len, 0);
            cdb[0] = opcode;
            if (sa >= 0) cdb[1] = static_cast<std::uint8_t>(sa);
            for (int i = 1; i < cdb_len; ++i) {
                for (int bit = 0; bit < 8; ++bit) {
                    if (usage[i] & (1u << bit)) continue;
                    auto bad = cdb;
                    bad[i] |= static_cast<std::uint8_t>(1u << bit);
                    const auto r = send_cdb(bad, lun, 4096);
                    ASSERT_EQ(r.asc(), 0x24) << "byte " << i << " bit " << bit;
                    ASSERT_EQ(r.field_pointer(), (std::pair<int, int>{i, bit}));
                    ++checked;
                }
            }
        }
        EXPECT_GT(checked, 500u);
    }
}

}  // namespace
}  // namespace vstor::test
