// Every implemented command, every CDB bit it does not use: setting that bit alone must give
// CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB with a field pointer to exactly that byte
// and bit — and the command must not run. Driven by the same table as dispatch and REPORT
// SUPPORTED OPERATION CODES, so a new command is covered the day it is added. Also: every opcode
// the table does not have gets INVALID COMMAND OPERATION CODE, and an unimplemented service
// action INVALID FIELD IN CDB pointing at the service action.
#include <set>

#include "engine_fixture.hpp"
#include "scsi/command_table.hpp"
#include "util/endian.hpp"
#include "vstor/shared_lun.hpp"

namespace vstor::test {
namespace {

using scsi::CommandTable;

std::vector<std::uint8_t> base_cdb(const scsi::CommandInfo& info) {
    std::vector<std::uint8_t> cdb(info.cdb_len, 0);
    cdb[0] = info.opcode;
    if (info.service_action) {
        if (info.opcode == 0x7f) {
            cdb[7] = static_cast<std::uint8_t>(info.cdb_len - 8);  // additional CDB length
            util::store_be16(&cdb[8], *info.service_action);
        } else {
            cdb[1] = static_cast<std::uint8_t>(*info.service_action);
        }
    }
    return cdb;
}

// A thin LUN that is also shared (vstor/shared_lun.hpp), so that it implements every command of
// the table, REPORT TARGET PORT GROUPS included.
class SharedThin final : public Backend, public SharedLun {
public:
    std::string kind() const override { return "shared"; }
    std::uint32_t block_size() const override { return mem_->block_size(); }
    std::uint64_t block_count() const override { return mem_->block_count(); }
    BackendCaps caps() const override { return mem_->caps(); }
    std::string unit_id() const override { return "test:cdb-fields"; }
    AccessState access_state() const override { return AccessState::active_optimized; }
    void watch_access_state(std::function<void()>) override {}
    void read(std::uint64_t lba, std::span<std::byte> b, IoCallback d) override { mem_->read(lba, b, std::move(d)); }
    void write(std::uint64_t lba, std::span<const std::byte> b, bool fua, IoCallback d) override {
        mem_->write(lba, b, fua, std::move(d));
    }
    void flush(IoCallback d) override { mem_->flush(std::move(d)); }
    void unmap(std::uint64_t lba, std::uint64_t n, IoCallback d) override { mem_->unmap(lba, n, std::move(d)); }
    void write_zeroes(std::uint64_t lba, std::uint64_t n, IoCallback d) override {
        mem_->write_zeroes(lba, n, std::move(d));
    }
    std::vector<Extent> allocation_status(std::uint64_t lba, std::uint64_t n) override {
        return mem_->allocation_status(lba, n);
    }

private:
    std::shared_ptr<backends::MemBackend> mem_ = std::make_shared<backends::MemBackend>(64ull << 20, 512);
};

class CdbFields : public EngineTest {
protected:
    void SetUp() override {
        EngineTest::SetUp();
        ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<SharedThin>()));
        clear_ua(0);
        clear_ua(1);
    }
};

// The opcode index finds each registered command from its CDB, and nothing for a service action
// or an opcode that is not registered.
TEST(CommandTableIndex, LookupFindsEveryCommandByItsCdb) {
    const auto& table = CommandTable::instance();
    for (const auto& info : table.all()) {
        SCOPED_TRACE(info.name);
        const auto cdb = base_cdb(info);
        EXPECT_EQ(table.lookup(cdb.data()), &info);
        EXPECT_EQ(table.find(info.opcode, info.service_action), &info);
        EXPECT_EQ(table.opcode_has_service_actions(info.opcode), info.service_action.has_value());
        if (info.service_action) {
            EXPECT_EQ(table.find(info.opcode, std::nullopt), nullptr);
        }
    }
    std::uint8_t cdb[16] = {0x9e, 0x1f};  // SERVICE ACTION IN(16) with an unregistered action
    EXPECT_EQ(table.lookup(cdb), nullptr);
    cdb[0] = 0x02;  // no command
    EXPECT_EQ(table.lookup(cdb), nullptr);
}

TEST_F(CdbFields, EveryUnusedBitOfEveryCommandIsRefusedWithItsFieldPointer) {
    // A block the command must not touch: if a refused command ran anyway, this changes.
    std::vector<std::uint8_t> marker(512, 0x5a);
    ASSERT_EQ(send({0x2a, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 1, 0, marker).status(), 0);
    std::size_t checked = 0;
    for (const auto& info : CommandTable::instance().all()) {
        const auto base = base_cdb(info);
        for (std::size_t i = 1; i < info.cdb_len && i < info.usage.size(); ++i) {
            for (int bit = 0; bit < 8; ++bit) {
                if (info.usage[i] & (1u << bit)) continue;
                auto cdb = base;
                cdb[i] |= static_cast<std::uint8_t>(1u << bit);
                const auto r = send_cdb(cdb, 1, 4096);
                SCOPED_TRACE(::testing::Message() << info.name << " byte " << i << " bit " << bit);
                ASSERT_EQ(r.status(), scsi_status::check_condition);
                EXPECT_EQ(r.key(), 0x05);
                EXPECT_EQ(r.asc(), 0x24);
                EXPECT_EQ(r.ascq(), 0x00);
                EXPECT_EQ(r.field_pointer(), (std::pair<int, int>{static_cast<int>(i), bit}));
                EXPECT_EQ(r.data.size(), 0u);
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 500u);
    const auto back = send({0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, 1, 512);
    EXPECT_EQ(back.data, marker) << "a refused command changed the medium";
}

TEST_F(CdbFields, UnknownOpcodesAndServiceActions) {
    const auto& table = CommandTable::instance();
    std::set<std::uint8_t> known;
    for (const auto& info : table.all()) known.insert(info.opcode);
    for (int op = 0; op < 256; ++op) {
        if (known.count(static_cast<std::uint8_t>(op))) continue;
        std::vector<std::uint8_t> cdb(16, 0);
        cdb[0] = static_cast<std::uint8_t>(op);
        const auto r = send_cdb(cdb);
        SCOPED_TRACE(::testing::Message() << "opcode 0x" << std::hex << op);
        EXPECT_EQ(r.status(), scsi_status::check_condition);
        EXPECT_EQ(r.key(), 0x05);
        EXPECT_EQ(r.asc(), 0x20);  // INVALID COMMAND OPERATION CODE
    }
    // An opcode with service actions, asked for one that is not implemented.
    for (std::uint8_t op : known) {
        if (!table.opcode_has_service_actions(op) || op == 0x7f) continue;
        for (std::uint16_t sa = 0; sa < 32; ++sa) {
            if (table.find(op, sa)) continue;
            std::vector<std::uint8_t> cdb(16, 0);
            cdb[0] = op;
            cdb[1] = static_cast<std::uint8_t>(sa);
            const auto r = send_cdb(cdb, 0, 512);
            SCOPED_TRACE(::testing::Message() << "opcode 0x" << std::hex << int(op) << " sa 0x" << sa);
            EXPECT_EQ(r.asc(), 0x24);
            EXPECT_EQ(r.field_pointer(), (std::pair<int, int>{1, 4}));
        }
    }
}

}  // namespace
}  // namespace vstor::test
