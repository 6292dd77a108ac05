// vstor.sys under StorPort's PnP and power calls (removal with I/O outstanding, power cycles on
// Windows 10 and 7, control-type numbers, PnP/power SRBs), a failing StorPortGetSystemAddress,
// and the emulator's own rule checks.
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

// Stop/remove with I/O outstanding: every SRB completes, every parked service IRP is returned by
// HwCompleteServiceIrp (the emulator checks both).
// Removal with requests stuck in the service: StorPort waits for them before ScsiStopAdapter, and
// when they time out it resets the bus (HwResetBus), which completes them; then the adapter stops
// (DIRQL: nothing to fail there) and HwCompleteServiceIrp returns the parked IRPs.
TEST_P(StorPort, StopWithIoOutstanding) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Emulator::Options options;
    options.reset_on_timeout = true;
    Rig rig({{0, gated}}, 8, true, options);
    Emulator& emu = rig.emu;
    gated->close();
    std::vector<RequestPtr> reqs;
    for (unsigned i = 0; i < 50; ++i)
        reqs.push_back(emu.start(0, 0, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock, nullptr, 2));
    for (int i = 0; i < 500 && gated->held() < 50; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated->held(), 50u);
    emu.stop_adapter();
    EXPECT_GE(emu.timeouts(), 1u);
    for (auto& r : reqs) {
        ASSERT_TRUE(r->completed.load());
        EXPECT_EQ(r->status(), SRB_STATUS_BUS_RESET);
    }
    gated->open();
    rig.service->join();
    EXPECT_EQ(settled_service_irps(emu), 0u);
    EXPECT_FALSE(emu.interface_enabled());  // disabled and freed in HwFreeAdapterResources
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Sleep/hibernate: StorPort stops the adapter (ScsiStopAdapter) and restarts it on resume. The
// service session survives, and requests issued meanwhile wait and then succeed.
TEST_P(StorPort, PowerCycleKeepsTheService) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    std::vector<std::uint8_t> block(kBlock, 0x77);
    ASSERT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, 5, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    std::thread resume([&] { emu.power_cycle(); });
    auto during = emu.execute(0, 0, cdb_rw10(false, 5, 1), SRB_FLAGS_DATA_IN, kBlock);
    resume.join();
    ASSERT_TRUE(ok(during));
    EXPECT_EQ(0, std::memcmp(during->data.data(), block.data(), kBlock));
    auto after = emu.execute(0, 0, cdb_rw10(false, 5, 1), SRB_FLAGS_DATA_IN, kBlock);
    ASSERT_TRUE(ok(after));
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    EXPECT_EQ(emu.devices().size(), 1u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Windows 7's StorPort: a PORT_CONFIGURATION_INFORMATION that ends at MaxNumberOfIO (nothing may be
// written past it), control types 0-4 only, and power transitions by ScsiStopAdapter and
// ScsiRestartAdapter at DIRQL, where a spin lock acquire or an IRP completion is a violation.
TEST_P(StorPort, Windows7StopAndRestartAtDirql) {
    Emulator::Options options;
    options.windows_version = 7;
    Rig rig({{0, mem_backend(1 << 20)}}, 8, true, options);
    Emulator& emu = rig.emu;
    EXPECT_EQ(emu.config().Length, offsetof(PORT_CONFIGURATION_INFORMATION, MaxIOsPerLun));
    EXPECT_EQ(emu.config().MaxNumberOfIO, vs::kMaxSlots);
    EXPECT_EQ(emu.config().MaxIOsPerLun, 0u);  // Windows 8's fields: not written
    EXPECT_EQ(emu.config().InitialLunQueueDepth, 0u);
    std::vector<std::uint8_t> block(kBlock, 0x5C);
    ASSERT_TRUE(ok(execute_as_disk(emu, 0, cdb_rw10(true, 9, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    for (int cycle = 0; cycle < 3; ++cycle) {
        std::thread resume([&] { emu.power_cycle(); });
        auto during = emu.execute(0, 0, cdb_rw10(false, 9, 1), SRB_FLAGS_DATA_IN, kBlock);
        resume.join();
        ASSERT_TRUE(ok(during));
        EXPECT_EQ(0, std::memcmp(during->data.data(), block.data(), kBlock));
    }
    EXPECT_EQ(emu.power_cycles(), 3u);
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Windows 10's control-type numbers: SystemPowerHints (12, Modern Standby) is not a stop, and
// SurpriseRemoval is 16. A power transition goes through ScsiAdapterPower, not Stop/Restart.
TEST_P(StorPort, ControlTypesUseMicrosoftsNumbers) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, gated}});
    Emulator& emu = rig.emu;
    const auto& supported = emu.supported_controls();
    EXPECT_TRUE(supported[ScsiStopAdapter] && supported[ScsiRestartAdapter] && supported[ScsiAdapterPower]);
    EXPECT_TRUE(supported[ScsiAdapterSurpriseRemoval]);
    emu.system_power_hint();  // sent only if advertised; either way the adapter keeps working
    const std::uint8_t tur[6] = {0};
    ASSERT_TRUE(ok(emu.execute(0, 0, tur, 0, 0)));
    emu.power_cycle();
    ASSERT_TRUE(ok(emu.execute(0, 0, tur, 0, 0)));
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);

    // Surprise removal with a read stuck in the service: the read fails with NO_DEVICE, the
    // service is told to go, and removal finds nothing left.
    gated->close();
    auto stuck = emu.start(0, 0, cdb_rw10(false, 1, 1), SRB_FLAGS_DATA_IN, kBlock);
    for (int i = 0; i < 500 && gated->held() < 1; ++i) std::this_thread::sleep_for(10ms);
    emu.surprise_remove();
    ASSERT_TRUE(emu.wait(stuck, 5s));
    EXPECT_EQ(stuck->status(), SRB_STATUS_NO_DEVICE);
    EXPECT_EQ(emu.execute(0, 0, tur, 0, 0)->status(), SRB_STATUS_NO_DEVICE);
    gated->open();
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// The PnP and power SRBs StorPort sends a LUN (and, flagged, the adapter) each complete once with a
// final status, write nothing beyond their buffer, and leave the LUN working. vstor answers the PnP
// actions it has nothing to add to with INVALID_REQUEST (StorPort then does its default) and power
// SRBs with SUCCESS (Windows 7: it gets them; Windows 8+ does not once ScsiAdapterPower is supported).
TEST_P(StorPort, PnpAndPowerSrbsCompleteOnce) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    const struct {
        STOR_PNP_ACTION action;
        bool adapter;
        std::uint32_t length;
    } cases[] = {{StorQueryCapabilities, false, 16}, {StorQueryCapabilities, true, 16}, {StorStartDevice, false, 0},
                 {StorStopDevice, false, 0},          {StorRemoveDevice, false, 0},     {StorSurpriseRemoval, false, 0}};
    for (const auto& c : cases) {
        auto r = emu.start_pnp(0, 0, c.action, c.adapter, c.length);
        ASSERT_TRUE(emu.wait(r, 5s)) << "PnP action " << c.action;
        EXPECT_TRUE(r->status() == SRB_STATUS_SUCCESS || r->status() == SRB_STATUS_INVALID_REQUEST)
            << "PnP action " << c.action << ": status " << int{r->status()};
        EXPECT_TRUE(r->guard_intact());
    }
    auto power = emu.start_function(SRB_FUNCTION_POWER, 0, 0);
    ASSERT_TRUE(emu.wait(power, 5s));
    EXPECT_EQ(power->status(), SRB_STATUS_SUCCESS);
    EXPECT_TRUE(ok(emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock)));
    EXPECT_EQ(emu.outstanding(), 0u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// StorPortGetSystemAddress can fail for want of system PTEs: the SRB comes back BUSY, not
// INTERNAL_ERROR, so StorPort issues it again (the emulator does, 50 ms apart) and it succeeds once
// the shortage is over. With StorPort's retries exhausted the
// caller sees BUSY. A data SRB whose direction bits say nothing, or both, is refused with
// INVALID_REQUEST; a TEST UNIT READY without data goes through.
TEST_P(StorPort, GetSystemAddressFailureIsRetryable) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    std::vector<std::uint8_t> block(kBlock, 0x3C);
    ASSERT_TRUE(ok(emu.execute(0, 0, cdb_rw10(true, 0, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data())));
    emu.fail_system_address(true);
    auto r = emu.start(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock);
    for (int i = 0; i < 500 && emu.busy_retries() < 2; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_GE(emu.busy_retries(), 2u);
    EXPECT_FALSE(r->completed.load());  // StorPort is still retrying it (20 tries, at least 50 ms apart)
    emu.fail_system_address(false);
    ASSERT_TRUE(emu.wait(r, 5s));
    EXPECT_TRUE(ok(r));
    EXPECT_EQ(0, std::memcmp(r->data.data(), block.data(), kBlock));
    EXPECT_TRUE(r->guard_intact());
    emu.fail_system_address(true);
    auto exhausted = emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock);
    EXPECT_EQ(exhausted->status(), SRB_STATUS_BUSY);
    EXPECT_EQ(exhausted->busy_retries, Emulator::kMaxBusyRetries);
    emu.fail_system_address(false);
    EXPECT_TRUE(ok(emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock)));
    EXPECT_EQ(emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_UNSPECIFIED_DIRECTION, kBlock)->status(),
              SRB_STATUS_INVALID_REQUEST);
    EXPECT_EQ(emu.execute(0, 0, cdb_rw10(false, 0, 1), 0, kBlock)->status(), SRB_STATUS_INVALID_REQUEST);
    const std::uint8_t tur[6] = {0};
    EXPECT_TRUE(ok(emu.execute(0, 0, tur, 0, 0)));
    EXPECT_EQ(emu.outstanding(), 0u);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// The emulator's rule checks themselves: a second RequestComplete for a finished SRB, an SRB
// outliving its TimeOutValue and a PASSIVE_LEVEL routine called under a spin lock are all reported
// (so the "no violations" assertions above can fail).
TEST_P(StorPortEmulator, ReportsBrokenRules) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, gated}}, 2);
    Emulator& emu = rig.emu;
    const std::uint8_t tur[6] = {0};
    auto r = emu.execute(0, 0, tur, 0, 0);
    ASSERT_TRUE(r->completed.load());
    ASSERT_TRUE(rig.violations().empty());
    VsRequestComplete(emu.device_extension(), &r->srb);  // what a buggy miniport does
    ASSERT_EQ(rig.violations().size(), 1u);
    EXPECT_NE(rig.violations()[0].find("not outstanding"), std::string::npos);

    gated->close();
    auto slow = emu.start(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock, nullptr, 1);
    std::this_thread::sleep_for(1500ms);
    gated->open();
    ASSERT_TRUE(emu.wait(slow));
    auto v = rig.violations();
    ASSERT_EQ(v.size(), 2u);
    EXPECT_NE(v[1].find("TimeOutValue"), std::string::npos);

    {
        // A PASSIVE_LEVEL-only routine under the driver's spin lock (DISPATCH_LEVEL).
        vs::Locked lock(static_cast<vs::Adapter*>(emu.device_extension()));
        UNICODE_STRING empty{};
        RtlFreeUnicodeString(&empty);
    }
    v = rig.violations();
    ASSERT_EQ(v.size(), 3u);
    EXPECT_NE(v[2].find("above PASSIVE_LEVEL"), std::string::npos);
}
