// vstor.sys and a service that goes away (killed with I/O outstanding or idle) or is slow, and the
// service channel's ownership by the process that connected.
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

// The service process dies with 250 SRBs outstanding, all inside a stalled engine: every SRB completes with an error well inside its timeout, Windows is told the LUN is
// gone, and nothing is completed twice when the dead service's work finally finishes.
// With the liveness IRP the driver learns of the death from its cancellation; without it, from the
// watchdog (no IRP parked, none arriving, for 4 s).
void kill_mid_io(bool liveness_irp, std::chrono::milliseconds bound) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(8 << 20));
    Rig rig({{0, gated}}, 8, liveness_irp);
    Emulator& emu = rig.emu;
    ASSERT_EQ(emu.devices().size(), 1u);
    gated->close();
    std::vector<RequestPtr> reqs;
    std::vector<std::uint8_t> block(kBlock, 0x5A);
    for (unsigned i = 0; i < 250; ++i)
        reqs.push_back(emu.start(0, 0, cdb_rw10(true, i, 1), SRB_FLAGS_DATA_OUT, kBlock, block.data(), 20));
    for (int i = 0; i < 500 && gated->held() < 250; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(gated->held(), 250u);  // all of them inside the engine

    const auto killed = std::chrono::steady_clock::now();
    const unsigned rescans = emu.rescans();
    rig.channel.kill();
    for (auto& r : reqs) ASSERT_TRUE(emu.wait(r, 15s));
    const auto took = std::chrono::steady_clock::now() - killed;
    EXPECT_LT(took, bound);
    for (auto& r : reqs) EXPECT_EQ(r->status(), SRB_STATUS_NO_DEVICE);
    EXPECT_EQ(driver_stats(emu).disconnects, 1u);
    EXPECT_TRUE(emu.wait_for_rescan(rescans + 1, 10s));
    EXPECT_TRUE(emu.devices().empty());  // the disk is gone, not hung
    EXPECT_EQ(settled_service_irps(emu), 0u);  // the dead process holds no IRP: it can exit

    gated->open();  // the dead service's engine work completes; nobody may complete an SRB again
    rig.service->join();
    const std::uint8_t tur[6] = {0};
    EXPECT_EQ(emu.execute(0, 0, tur, 0, 0)->status(), SRB_STATUS_NO_DEVICE);
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

TEST_P(StorPort, ServiceKilledMidIoFailsEverySrbAtOnce) { kill_mid_io(true, 1s); }

TEST_P(StorPort, ServiceKilledMidIoWithoutLivenessIrpFailsEverySrbWithinTheGrace) { kill_mid_io(false, 6s); }

// A backend that stalls longer than the watchdog's grace is not mistaken for a dead service.
TEST_P(StorPort, SlowBackendIsNotTakenForADeadService) {
    auto gated = std::make_shared<GatedBackend>(mem_backend(1 << 20));
    Rig rig({{0, gated}}, 4);
    Emulator& emu = rig.emu;
    gated->close();
    std::vector<RequestPtr> reqs;
    for (unsigned i = 0; i < 20; ++i) reqs.push_back(emu.start(0, 0, cdb_rw10(false, i, 1), SRB_FLAGS_DATA_IN, kBlock));
    std::this_thread::sleep_for(std::chrono::milliseconds(vs::kServiceGraceTicks * vs::kTimerMicroseconds / 1000 + 1500));
    EXPECT_EQ(gated->held(), 20u);
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    gated->open();
    for (auto& r : reqs) {
        ASSERT_TRUE(emu.wait(r));
        EXPECT_TRUE(ok(r));
    }
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// Killed while idle: its parked IRPs are cancelled (the process can exit) and the watchdog drops it.
TEST_P(StorPort, ServiceKilledWhileIdleCancelsParkedIrps) {
    Rig rig({{0, mem_backend(1 << 20)}}, 4);
    Emulator& emu = rig.emu;
    for (int i = 0; i < 200 && emu.pending_service_irps() < 5; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(emu.pending_service_irps(), 5u);  // 4 dispatchers and the liveness IRP
    rig.channel.kill();
    EXPECT_EQ(settled_service_irps(emu), 0u);
    EXPECT_EQ(driver_stats(emu).disconnects, 1u);  // the liveness IRP's cancellation said so
    rig.service->join();
    const std::uint8_t tur[6] = {0};
    EXPECT_EQ(emu.execute(0, 0, tur, 0, 0)->status(), SRB_STATUS_NO_DEVICE);

    // A new service instance connects and serves again.
    SimChannel fresh(emu, 2);
    vstor::bridge::Service again(*rig.adapter, fresh, {});
    ASSERT_TRUE(again.start());
    EXPECT_TRUE(emu.execute(0, 0, tur, 0, 0)->status() == SRB_STATUS_SUCCESS);
    again.stop();
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// The service channel belongs to the process that CONNECTed: another process that opens the
// adapter can neither take the session over (CONNECT: DEVICE_BUSY) nor act in it, even with the
// right session id (ACCESS_DENIED), and the service's I/O goes on. Session ids are not sequential.
TEST_P(StorPort, ServiceChannelBelongsToTheConnectingProcess) {
    Rig rig({{0, mem_backend(1 << 20)}});
    Emulator& emu = rig.emu;
    const std::uint32_t session = [&] {
        auto* a = static_cast<vs::Adapter*>(emu.device_extension());
        vs::Locked lock(a);
        return a->session;
    }();
    std::vector<std::uint8_t> buf(VSTOR_TRANSACT_MIN_BUFFER);
    const int intruder = 2;
    vstor_bridge_connect c{};
    c.hdr = {VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_CONNECT, 0, 0};
    c.buffer_size = VSTOR_TRANSACT_MIN_BUFFER;
    std::memcpy(buf.data(), &c, sizeof(c));
    EXPECT_EQ(emu.device_ioctl(intruder, VSTOR_BRIDGE_IOCTL, buf.data(), sizeof(c), static_cast<ULONG>(buf.size())).status,
              STATUS_DEVICE_BUSY);
    for (std::uint16_t op : {VSTOR_OP_DISCONNECT, VSTOR_OP_LUN, VSTOR_OP_TRANSACT, VSTOR_OP_HOLD}) {
        vstor_bridge_lun l{};
        l.hdr = {VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, op, session, op == VSTOR_OP_TRANSACT ? VSTOR_FLAG_NO_WAIT : 0u};
        std::memcpy(buf.data(), &l, sizeof(l));
        EXPECT_EQ(emu.device_ioctl(intruder, VSTOR_BRIDGE_IOCTL, buf.data(), sizeof(l), static_cast<ULONG>(buf.size())).status,
                  STATUS_ACCESS_DENIED) << "op " << op;
    }
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);
    EXPECT_TRUE(ok(emu.execute(0, 0, cdb_rw10(false, 0, 1), SRB_FLAGS_DATA_IN, kBlock)));
    EXPECT_EQ(emu.devices().size(), 1u);

    // Once the service has gone (DISCONNECT), another process may connect; ids never repeat a
    // pattern a guesser could follow.
    rig.service->stop();
    std::vector<std::uint32_t> ids{session};
    for (int i = 0; i < 8; ++i) {
        std::memcpy(buf.data(), &c, sizeof(c));
        ASSERT_EQ(emu.device_ioctl(3 + i, VSTOR_BRIDGE_IOCTL, buf.data(), sizeof(c), static_cast<ULONG>(buf.size())).status,
                  STATUS_SUCCESS);
        vstor_bridge_connect_reply reply;
        std::memcpy(&reply, buf.data(), sizeof(reply));
        ids.push_back(reply.session);
        vstor_bridge_header bye{VSTOR_BRIDGE_MAGIC, VSTOR_BRIDGE_VERSION, VSTOR_OP_DISCONNECT, reply.session, 0};
        std::memcpy(buf.data(), &bye, sizeof(bye));
        ASSERT_EQ(emu.device_ioctl(3 + i, VSTOR_BRIDGE_IOCTL, buf.data(), sizeof(bye), sizeof(bye)).status, STATUS_SUCCESS);
    }
    for (std::size_t i = 1; i < ids.size(); ++i) {
        EXPECT_NE(ids[i], 0u);
        EXPECT_GT(ids[i] - ids[i - 1], 1000u) << "sequential session ids: " << ids[i - 1] << ", " << ids[i];
    }
    auto v = rig.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}
