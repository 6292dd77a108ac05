// The service closes its handle to the adapter while its IRPs are parked in the driver and its
// threads live on (IRP_MJ_CLEANUP, which StorPort does not pass to the miniport): the driver must
// return every IRP parked on that handle and end the session, or the IRPs stay parked and the
// SRBs the service holds hang until StorPort's timeout. Needs no engine: it runs against the
// native driver and both images (the x86 one in the 32-bit emulator).
#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
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
using vstor::storport_sim::IoctlResult;

TEST_P(StorPort, HandleClosedWithIrpsParkedEndsTheSession) {
    Emulator emu{driver()};
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    std::string why;
    ASSERT_TRUE(emu.start_adapter(&why)) << why;
    HandService svc{emu, 1};
    ASSERT_EQ(svc.connect(), STATUS_SUCCESS);
    const std::uint32_t first_session = svc.session;

    // The liveness IRP, parked for the session's life on a thread that outlives the handle.
    NTSTATUS hold_status = STATUS_PENDING;
    std::thread hold([&] {
        auto buf = svc.with_header(VSTOR_OP_HOLD);
        hold_status = svc.call(buf, sizeof(vstor_bridge_header)).status;
    });
    // LUN 0 announced: the rescan's INQUIRY is queued and handed to the first TRANSACT, which the
    // service keeps (an SRB inside the service); two more TRANSACTs park for work.
    ASSERT_EQ(svc.announce_lun0(), STATUS_SUCCESS);
    auto first = svc.with_header(VSTOR_OP_TRANSACT);
    ASSERT_EQ(svc.call(first, sizeof(vstor_bridge_header)).status, STATUS_SUCCESS);
    vstor_bridge_request held{};
    std::memcpy(&held, first.data() + sizeof(vstor_bridge_header), sizeof(held));
    ASSERT_EQ(held.kind, VSTOR_REQ_SCSI);
    EXPECT_EQ(held.cdb[0], 0x12);  // INQUIRY
    NTSTATUS parked_status[2] = {STATUS_PENDING, STATUS_PENDING};
    std::vector<std::thread> workers;
    for (int i = 0; i < 2; ++i)
        workers.emplace_back([&, i] {
            auto buf = svc.with_header(VSTOR_OP_TRANSACT);
            parked_status[i] = svc.call(buf, sizeof(vstor_bridge_header)).status;
        });
    for (int i = 0; i < 500 && emu.pending_service_irps() < 3; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(emu.pending_service_irps(), 3u);

    // Another process opening and closing the adapter changes nothing.
    HandService other{emu, 2};
    EXPECT_EQ(other.connect(), STATUS_DEVICE_BUSY);
    emu.close_handle(2);
    EXPECT_EQ(emu.pending_service_irps(), 3u);
    EXPECT_EQ(driver_stats(emu).disconnects, 0u);

    const unsigned rescans = emu.rescans();
    emu.close_handle(1);  // the threads live on; only the handle is gone
    const std::size_t left = settled_service_irps(emu);
    EXPECT_EQ(left, 0u) << "service IRPs still parked after the handle was closed";
    if (left != 0) emu.kill_process(1);  // what the old driver needed: the threads exiting
    hold.join();
    for (auto& t : workers) t.join();
    if (left != 0) return;
    EXPECT_EQ(hold_status, STATUS_CANCELLED);
    EXPECT_EQ(parked_status[0], STATUS_CANCELLED);
    EXPECT_EQ(parked_status[1], STATUS_CANCELLED);
    EXPECT_EQ(emu.port_cleanups(), 2u);  // both cleanups went on to StorPort
    // The session ended as a dead service's: the INQUIRY it held failed at once (the rescan went
    // on), the LUN is gone.
    EXPECT_EQ(driver_stats(emu).disconnects, 1u);
    EXPECT_TRUE(emu.wait_for_rescan(rescans + 1, 10s));
    EXPECT_TRUE(emu.devices().empty());
    const std::uint8_t tur[6] = {0};
    EXPECT_EQ(emu.execute(0, 0, tur, 0, 0)->status(), SRB_STATUS_NO_DEVICE);

    // A late reply on a new handle is refused: the session is over. A new CONNECT works.
    auto late = svc.with_header(VSTOR_OP_TRANSACT, VSTOR_FLAG_HAS_COMPLETION | VSTOR_FLAG_NO_WAIT);
    vstor_bridge_completion comp{};
    comp.tag = held.tag;
    comp.result = VSTOR_RESULT_OK;
    std::memcpy(late.data() + sizeof(vstor_bridge_header), &comp, sizeof(comp));
    EXPECT_EQ(svc.call(late, VSTOR_TRANSACT_IN_DATA_OFFSET).status, STATUS_DEVICE_NOT_CONNECTED);
    ASSERT_EQ(svc.connect(), STATUS_SUCCESS);
    EXPECT_NE(svc.session, first_session);
    auto bye = svc.with_header(VSTOR_OP_DISCONNECT);
    EXPECT_EQ(svc.call(bye, sizeof(vstor_bridge_header)).status, STATUS_SUCCESS);
    auto v = emu.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}

// A CONNECT in flight on a handle while that handle's IRP_MJ_CLEANUP runs (DeviceIoControl on one
// thread, CloseHandle on another): it reaches the driver after the cleanup released the handle, so
// it must be refused, or it would make a session bound to a closed handle that no cleanup will end.
TEST_P(StorPort, ConnectInFlightWhileItsHandleClosesIsRefused) {
    Emulator emu{driver()};
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    std::string why;
    ASSERT_TRUE(emu.start_adapter(&why)) << why;
    HandService svc{emu, 1};
    std::vector<std::uint8_t> probe(64);
    EXPECT_EQ(emu.device_ioctl(1, 0x12345, probe.data(), 16, 16).status, STATUS_INVALID_DEVICE_REQUEST);  // opens the handle
    NTSTATUS in_flight = STATUS_PENDING;
    emu.close_handle(1, [&] { in_flight = svc.connect(); });  // runs after the driver's cleanup routine
    EXPECT_EQ(in_flight, STATUS_FILE_CLOSED);
    EXPECT_EQ(emu.port_closes(), 1u);  // IRP_MJ_CLOSE went on to StorPort
    // No session was made: another process may connect, then the first one on a new handle.
    HandService other{emu, 2};
    ASSERT_EQ(other.connect(), STATUS_SUCCESS);
    auto bye = other.with_header(VSTOR_OP_DISCONNECT);
    EXPECT_EQ(other.call(bye, sizeof(vstor_bridge_header)).status, STATUS_SUCCESS);
    EXPECT_EQ(svc.connect(), STATUS_SUCCESS);
    // The same race with a session: the TRANSACT in flight is refused rather than parked.
    NTSTATUS transact = STATUS_PENDING;
    emu.close_handle(1, [&] {
        auto buf = svc.with_header(VSTOR_OP_TRANSACT);
        transact = svc.call(buf, sizeof(vstor_bridge_header)).status;
    });
    EXPECT_EQ(transact, STATUS_FILE_CLOSED);
    EXPECT_EQ(driver_stats(emu).disconnects, 2u);  // other's DISCONNECT, and the closed handle's session
    EXPECT_EQ(emu.pending_service_irps(), 0u);
    auto v = emu.violations();
    EXPECT_TRUE(v.empty()) << v.front();
}
