// Many threads against one adapter: overlapping writes, COMPARE AND WRITE, reads, LUN resets,
// and a LUN removed and re-added while I/O runs. Every command must complete exactly once,
// nothing may crash, and COMPARE AND WRITE must never be torn. Run under TSan by `make tsan`.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <future>
#include <thread>
#include <vector>

#include "backends/mem/mem_backend.hpp"
#include "vstor/adapter.hpp"

namespace vstor::test {
namespace {

Completion run(Adapter& a, const std::shared_ptr<Nexus>& n, std::uint16_t lun, std::vector<std::uint8_t> cdb,
               std::vector<std::uint8_t>& buf, DataDirection dir) {
    Command c;
    c.nexus = n;
    c.lun = encode_sam_lun(lun);
    std::memcpy(c.cdb.data(), cdb.data(), cdb.size());
    c.cdb_len = static_cast<std::uint8_t>(cdb.size());
    c.dir = dir;
    c.expected_length = static_cast<std::uint32_t>(buf.size());
    c.data = std::as_writable_bytes(std::span(buf));
    std::promise<Completion> p;
    a.submit(c, [&](const Completion& comp) { p.set_value(comp); });
    return p.get_future().get();
}

TEST(Concurrency, OverlappingIoResetsAndHotRemoveStayConsistent) {
    auto adapter = Adapter::create();
    const auto tid = *adapter->add_target("iqn.2026-11.org.vstor:stress").value;
    ASSERT_TRUE(adapter->add_lun(tid, 0, std::make_shared<backends::MemBackend>(1u << 20)));
    ASSERT_TRUE(adapter->add_lun(tid, 1, std::make_shared<backends::MemBackend>(1u << 20)));
    std::atomic<bool> stop{false};
    std::atomic<int> torn{0}, completed{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < 4; ++w) {
        threads.emplace_back([&, w] {
            auto n = adapter->open_nexus(tid, "iqn.test:w" + std::to_string(w) + ",i,0x1");
            std::vector<std::uint8_t> block(512), cawbuf(1024), rd(512);
            for (int i = 0; i < 300 && !stop; ++i) {
                // Overlapping WRITE(10) to LBA 0..3, filled with one byte value per command.
                std::memset(block.data(), w * 50 + (i % 50), block.size());
                run(*adapter, n, 0, {0x2a, 0, 0, 0, 0, static_cast<std::uint8_t>(i % 4), 0, 0, 1, 0}, block,
                    DataDirection::write);
                // COMPARE AND WRITE on LBA 10: expect what we read, write a uniform new value.
                run(*adapter, n, 0, {0x28, 0, 0, 0, 0, 10, 0, 0, 1, 0}, rd, DataDirection::read);
                bool uniform = std::all_of(rd.begin(), rd.end(), [&](std::uint8_t b) { return b == rd[0]; });
                if (!uniform) ++torn;
                std::memcpy(cawbuf.data(), rd.data(), 512);
                std::memset(cawbuf.data() + 512, (w + i) & 0xff, 512);
                run(*adapter, n, 0, {0x89, 0, 0, 0, 0, 0, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0}, cawbuf, DataDirection::write);
                // I/O to the LUN that comes and goes: any status is fine, but it must complete.
                std::vector<std::uint8_t> r1(512);
                run(*adapter, n, 1, {0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0}, r1, DataDirection::read);
                ++completed;
            }
        });
    }
    threads.emplace_back([&] {
        auto n = adapter->open_nexus(tid, "iqn.test:admin,i,0x9");
        for (int i = 0; i < 20; ++i) {
            adapter->task_management(TmfRequest{n, TmfFunction::lun_reset, encode_sam_lun(0), 0});
            (void)adapter->remove_lun(tid, 1, true);
            (void)adapter->add_lun(tid, 1, std::make_shared<backends::MemBackend>(1u << 20));
            (void)adapter->resize_lun(tid, 0, 2048 + (i % 2));
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    for (auto& t : threads) t.join();
    EXPECT_EQ(torn.load(), 0);
    EXPECT_EQ(completed.load(), 4 * 300);
}

}  // namespace
}  // namespace vstor::test
