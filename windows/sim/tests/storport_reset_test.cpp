// vstor.sys under resets and LUN changes: bus reset, LUN reset and abort, hot add and removal, a
// hung LUN next to a working one, a LUN withdrawn with I/O outstanding.
// The emulator records every broken StorPort rule; each test ends by asserting there were none.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "miniport.h"
#include "storport_sim.hpp"
#include "tests/driver_image.hpp"
#include "tests/storport_helpers.hpp"
#include "tests/storport_rig.hpp"

using namespace std::chrono_literals;
using vstor::storport_sim::Emulator;
using vstor::storport_sim::Request;
using vstor::storport_sim::RequestPtr;
using namespace vstor::storport_sim::test;

// HwResetBus with work inside the service: everything completes with BUS_RESET before HwResetBus
// returns, the service is told, and its 100 late replies are ignored.
TEST_P(StorPort, BusResetAbortsOutstandingWork) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(8 << 20));
    Rig rig({{0, gated}}, 8);
    Emulator& emu = rig.emu;
    gated->close();
    std::vector<RequestPtr> reqs;
    for (unsigned i = 0; i < 100; ++i)
        reqs.push_back(emu.start(0, 0, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    for (int i = 0; i < 500 && gated->held() < 100; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated->held(), 100u);

    emu.reset_bus(0);  // the emulator checks nothing is outstanding when it returns
    for (auto& r : reqs) {
        ASSERT_TRUE(r->completed.load());
        EXPECT_EQ(r->status(), SRB_STATUS_BUS_RESET);
        EXPECT_TRUE(r->guard_intact());
    }
    gated->open();
    for (int i = 0; i < 500 && (driver_stats(emu).stale_replies < 100 || rig.service->stats().bus_resets == 0); ++i)
        std::this_thread::sleep_for(10ms);
    EXPECT_EQ(driver_stats(emu).stale_replies, 100u);
    EXPECT_EQ(rig.service->stats().bus_resets.load(), 1u);

    // Still serving after the reset (the engine reports the reset as a UNIT ATTENTION first).
    std::vector<std::uint8_t> block(kBlock, 0xC3);
    int attentions = 0;
    ASSERT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, 9, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data(), &attentions)));
    EXPECT_EQ(attentions, 1);
    auto r = emu.execute(0, 0, cdb_rw10(false, 9, 1), SRB_FLAGS_DATA_IN, kBlock);
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(0, std::memcmp(r->data.data(), block.data(), kBlock));
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// LUN reset touches only its LUN; ABORT_COMMAND takes exactly the named SRB.
TEST_P(StorPort, LunResetAndAbortCommand) {
    auto gated0 = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    auto gated1 = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, gated0}, {1, gated1}}, 2);
    Emulator& emu = rig.emu;
    gated0->close();
    gated1->close();
    std::vector<RequestPtr> l0, l1;
    for (unsigned i = 0; i < 10; ++i) {
        l0.push_back(emu.start(0, 0, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
        l1.push_back(emu.start(0, 1, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    }
    for (int i = 0; i < 500 && gated0->held() + gated1->held() < 20; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated0->held() + gated1->held(), 20u);

    auto reset = emu.start_function(SRB_FUNCTION_RESET_LOGICAL_UNIT, 0, 1);
    ASSERT_TRUE(emu.wait(reset));
    EXPECT_EQ(reset->status(), SRB_STATUS_SUCCESS);
    for (auto& r : l1) {
        ASSERT_TRUE(r->completed.load());
        EXPECT_EQ(r->status(), SRB_STATUS_BUS_RESET);
    }
    for (auto& r : l0) EXPECT_FALSE(r->completed.load());

    // Abort the last SRB sent for LUN 0 (inside the engine; its late reply will be stale).
    auto abort = emu.start_function(SRB_FUNCTION_ABORT_COMMAND, 0, 0, &l0.back()->srb);
    ASSERT_TRUE(emu.wait(abort));
    EXPECT_EQ(abort->status(), SRB_STATUS_SUCCESS);
    EXPECT_EQ(l0.back()->status(), SRB_STATUS_ABORTED);
    auto again = emu.start_function(SRB_FUNCTION_ABORT_COMMAND, 0, 0, &l0.back()->srb);
    ASSERT_TRUE(emu.wait(again));
    EXPECT_EQ(again->status(), SRB_STATUS_ABORT_FAILED);

    gated0->open();
    gated1->open();
    for (std::size_t i = 0; i + 1 < l0.size(); ++i) {
        ASSERT_TRUE(emu.wait(l0[i]));
        EXPECT_TRUE(ok(l0[i])) << i;
    }
    for (int i = 0; i < 500 && rig.service->stats().lun_resets == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(rig.service->stats().lun_resets.load(), 1u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Adding a LUN in the service raises BusChangeDetected and the rescan finds it; removing it does
// the reverse and its SRBs get SRB_STATUS_NO_DEVICE.
TEST_P(StorPort, LunHotAddAndRemove) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    ASSERT_EQ(emu.devices().size(), 1u);
    const unsigned changes = emu.bus_changes();
    const unsigned rescans = emu.rescans();
    // The service follows the adapter: adding the LUN (as `vstor ctl lun add` does) announces it.
    ASSERT_TRUE(rig.adapter->add_lun(rig.tid, 3, mem_backend(2 << 20)));
    EXPECT_EQ(emu.bus_changes(), changes + 1);
    ASSERT_TRUE(emu.wait_for_rescan(rescans + 1, 10s));
    auto devs = emu.devices();
    ASSERT_EQ(devs.size(), 2u);
    EXPECT_EQ(devs[1].lun, 3);

    std::vector<std::uint8_t> block(kBlock, 0x3C);
    ASSERT_TRUE(ok(execute_as_disk(emu, 3, cdb_rw10(true, 1, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    auto r = emu.execute(0, 3, cdb_rw10(false, 1, 1), SRB_FLAGS_DATA_IN, kBlock);
    ASSERT_TRUE(ok(r));
    EXPECT_EQ(0, std::memcmp(r->data.data(), block.data(), kBlock));

    ASSERT_TRUE(rig.adapter->remove_lun(rig.tid, 3));
    EXPECT_EQ(emu.bus_changes(), changes + 2);
    ASSERT_TRUE(emu.wait_for_rescan(rescans + 2, 10s));
    EXPECT_EQ(emu.devices().size(), 1u);
    EXPECT_EQ(emu.execute(0, 3, cdb_rw10(false, 1, 1), SRB_FLAGS_DATA_IN, kBlock)->status(), SRB_STATUS_NO_DEVICE);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// A LUN whose backend hangs with a full queue (250 SRBs) does not hold up another LUN: the service
// never waits on the engine, so the other LUN's I/O flows (a dispatcher per request would starve).
TEST_P(StorPort, HungLunDoesNotStallOtherLuns) {
    auto hung = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, mem_backend(4 << 20)}, {1, hung}}, 8);
    Emulator& emu = rig.emu;
    hung->close();
    std::vector<RequestPtr> stuck;
    for (unsigned i = 0; i < Emulator::queue_depth(); ++i)
        stuck.push_back(emu.start(0, 1, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    for (int i = 0; i < 500 && hung->held() < Emulator::queue_depth(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(hung->held(), Emulator::queue_depth());

    const auto t0 = std::chrono::steady_clock::now();
    std::mt19937 rng(3);
    for (unsigned i = 0; i < 200; ++i) {
        std::vector<std::uint8_t> data(8 * kBlock);
        for (auto& b : data) b = static_cast<std::uint8_t>(rng());
        ASSERT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, i * 8, 8), SRB_FLAGS_DATA_OUT, 8 * kBlock, data.data())));
        auto r = emu.execute(0, 0, cdb_rw10(false, i * 8, 8), SRB_FLAGS_DATA_IN, 8 * kBlock);
        ASSERT_TRUE(ok(r));
        ASSERT_EQ(0, std::memcmp(r->data.data(), data.data(), data.size()));
    }
    // Milliseconds normally; the bound only separates "flows" from "stalled behind the hung LUN"
    // (which never completes) and leaves room for sanitizer builds.
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
    for (auto& r : stuck) EXPECT_FALSE(r->completed.load());
    hung->open();
    for (auto& r : stuck) {
        ASSERT_TRUE(emu.wait(r));
        EXPECT_TRUE(ok(r));
    }
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// A LUN withdrawn by the service while its SRBs are queued and inside the engine: they complete
// with NO_DEVICE at once, the other LUN is untouched, and the late replies are ignored.
TEST_P(StorPort, LunWithdrawnWithIoOutstanding) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, mem_backend(1 << 20)}, {1, gated}}, 4);
    Emulator& emu = rig.emu;
    gated->close();
    std::vector<RequestPtr> reqs;
    for (unsigned i = 0; i < 40; ++i) reqs.push_back(emu.start(0, 1, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    for (int i = 0; i < 500 && gated->held() < 40; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated->held(), 40u);
    const unsigned rescans = emu.rescans();
    ASSERT_TRUE(rig.service->announce(rig.tid, 1, false));
    for (auto& r : reqs) {
        ASSERT_TRUE(r->completed.load());
        EXPECT_EQ(r->status(), SRB_STATUS_NO_DEVICE);
    }
    ASSERT_TRUE(emu.wait_for_rescan(rescans + 1, 10s));
    EXPECT_EQ(emu.devices().size(), 1u);
    gated->open();
    for (int i = 0; i < 500 && driver_stats(emu).stale_replies < 40; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(driver_stats(emu).stale_replies, 40u);
    std::vector<std::uint8_t> block(kBlock, 0x42);
    EXPECT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, 0, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}
