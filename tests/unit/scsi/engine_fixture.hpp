// Test fixture: an adapter with one target and a mem LUN, and helpers to send CDBs.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <initializer_list>
#include <memory>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "scsi/task.hpp"
#include "vstor/adapter.hpp"

namespace vstor::test {

struct Reply {
    Completion c;
    std::vector<std::uint8_t> data;  // data-in actually returned
    std::uint8_t status() const { return c.status; }
    std::uint8_t key() const { return c.sense_len ? (c.sense[0] >= 0x72 ? c.sense[1] : c.sense[2]) & 0x0f : 0; }
    std::uint8_t asc() const { return c.sense_len ? (c.sense[0] >= 0x72 ? c.sense[2] : c.sense[12]) : 0; }
    std::uint8_t ascq() const { return c.sense_len ? (c.sense[0] >= 0x72 ? c.sense[3] : c.sense[13]) : 0; }
    // Fixed-format sense-key specific field pointer (byte, bit); {-1,-1} if absent.
    std::pair<int, int> field_pointer() const {
        if (c.sense_len < 18 || !(c.sense[15] & 0x80)) return {-1, -1};
        return {(c.sense[16] << 8) | c.sense[17], (c.sense[15] & 0x08) ? (c.sense[15] & 7) : -1};
    }
};

// Sends TEST UNIT READY through `nexus` until it passes: uses up the power-on unit attention (and
// any other pending one) so that the test's own commands meet none.
inline void clear_unit_attention(Adapter& adapter, const std::shared_ptr<Nexus>& nexus, std::uint16_t lun = 0) {
    for (int i = 0; i < 8; ++i) {
        Command c;
        c.nexus = nexus;
        c.lun = encode_sam_lun(lun);
        c.cdb_len = 6;  // TEST UNIT READY: all zero
        std::promise<Completion> p;
        adapter.submit(c, [&p](const Completion& r) { p.set_value(r); });
        if (p.get_future().get().status == scsi_status::good) return;
    }
}

class EngineTest : public ::testing::Test {
protected:
    void SetUp() override {
        duplicates_before = scsi::duplicate_completions();
        adapter = Adapter::create();
        tid = *adapter->add_target("iqn.2026-11.org.vstor:test").value;
        mem = std::make_shared<backends::MemBackend>(64ull << 20, 512);
        ASSERT_TRUE(adapter->add_lun(tid, 0, mem));
        nexus = adapter->open_nexus(tid, "iqn.2026-11.org.test:init,i,0x1");
        clear_ua();
    }

    // Every command the test sent completed once (a second completion is an engine bug).
    void TearDown() override { EXPECT_EQ(scsi::duplicate_completions(), duplicates_before); }

    void clear_ua(std::uint16_t lun = 0) { clear_unit_attention(*adapter, nexus, lun); }

    Reply send(std::initializer_list<std::uint8_t> cdb, std::uint16_t lun = 0, std::uint32_t alloc = 0,
               std::vector<std::uint8_t> out = {}, std::shared_ptr<Nexus> via = nullptr) {
        return send_cdb(std::vector<std::uint8_t>(cdb), lun, alloc, std::move(out), std::move(via));
    }

    Reply send_cdb(const std::vector<std::uint8_t>& cdb, std::uint16_t lun = 0, std::uint32_t alloc = 0,
                   std::vector<std::uint8_t> out = {}, std::shared_ptr<Nexus> via = nullptr) {
        Command cmd;
        cmd.nexus = via ? via : nexus;
        cmd.lun = encode_sam_lun(lun);
        std::memcpy(cmd.cdb.data(), cdb.data(), cdb.size());
        cmd.cdb_len = static_cast<std::uint8_t>(cdb.size());
        std::vector<std::uint8_t> buf;
        if (!out.empty()) {
            buf = std::move(out);
            cmd.dir = DataDirection::write;
        } else {
            buf.resize(alloc);
            cmd.dir = alloc ? DataDirection::read : DataDirection::none;
        }
        cmd.expected_length = static_cast<std::uint32_t>(buf.size());
        cmd.data = std::as_writable_bytes(std::span(buf));
        std::promise<Completion> p;
        adapter->submit(cmd, [&](const Completion& c) { p.set_value(c); });
        Reply r;
        r.c = p.get_future().get();
        if (cmd.dir == DataDirection::read) r.data.assign(buf.begin(), buf.begin() + r.c.data_in_len);
        return r;
    }

    std::unique_ptr<Adapter> adapter;
    std::uint16_t tid = 0;
    std::shared_ptr<backends::MemBackend> mem;
    std::shared_ptr<Nexus> nexus;
    std::uint64_t duplicates_before = 0;
};

}  // namespace vstor::test
