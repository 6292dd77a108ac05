// StorPort's power and removal calls with a hand-written service connected and its IRPs parked,
// needing no engine, so they also run against the x86 image in the 32-bit emulator: Windows 7's
// sleep and resume as ScsiStopAdapter/ScsiRestartAdapter at DIRQL (no spin lock, no completion
// there), then removal, whose HwCompleteServiceIrp must return every parked IRP.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "miniport.h"
#include "storport_sim.hpp"
#include "tests/driver_image.hpp"
#include "tests/hand_service.hpp"
#include "tests/storport_helpers.hpp"

using namespace std::chrono_literals;
using namespace vstor::storport_sim::test;
using vstor::storport_sim::Emulator;

TEST_P(StorPort, Windows7SleepAndRemovalWithIrpsParked) {
    Emulator::Options options;
    options.windows_version = 7;
    Emulator emu{driver(), options};
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    std::string why;
    ASSERT_TRUE(emu.start_adapter(&why)) << why;
    EXPECT_TRUE(emu.supported_controls()[ScsiStopAdapter]);
    EXPECT_TRUE(emu.supported_controls()[ScsiRestartAdapter]);
    HandService svc{emu, 1};
    ASSERT_EQ(svc.connect(), STATUS_SUCCESS);
    const std::uint32_t session = svc.session;
    NTSTATUS statuses[3] = {STATUS_PENDING, STATUS_PENDING, STATUS_PENDING};
    std::vector<std::thread> threads;
    for (int i = 0; i < 3; ++i)
        threads.emplace_back([&, i] {
            auto buf = svc.with_header(i == 0 ? VSTOR_OP_HOLD : VSTOR_OP_TRANSACT);
            statuses[i] = svc.call(buf, sizeof(vstor_bridge_header)).status;
        });
    for (int i = 0; i < 500 && emu.pending_service_irps() < 3; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(emu.pending_service_irps(), 3u);

    for (int cycle = 0; cycle < 3; ++cycle) emu.power_cycle();  // Stop, Restart at DIRQL
    EXPECT_EQ(emu.power_cycles(), 3u);
    EXPECT_EQ(emu.pending_service_irps(), 3u);  // the session survives a sleep
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    auto again = svc.with_header(VSTOR_OP_TRANSACT, VSTOR_FLAG_NO_WAIT);
    EXPECT_EQ(svc.call(again, sizeof(vstor_bridge_header)).status, STATUS_SUCCESS);
    EXPECT_EQ(svc.session, session);

    emu.stop_adapter();  // ScsiStopAdapter, then HwCompleteServiceIrp: every parked IRP returns
    for (auto& t : threads) t.join();
    for (NTSTATUS s : statuses) EXPECT_EQ(s, STATUS_DEVICE_REMOVED);
    EXPECT_EQ(emu.pending_service_irps(), 0u);
    auto v = emu.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}
