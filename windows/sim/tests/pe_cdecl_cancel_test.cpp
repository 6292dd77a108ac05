// What issue 14's audit found, run: the x86 vstor.sys rebuilt with a cdecl cancel routine
// (windows/tools/cdecl_cancel_variant.py; never shipped) fails the suite with the routine's name
// when the dead service's IRPs are cancelled, where the shipped image passes
// (Pe/StorPort.ServiceKilledWhileIdleCancelsParkedIrps/x86 does the same with it).
#include <gtest/gtest.h>

#include <unistd.h>

#include <string>
#include <thread>

#include "pe_driver.hpp"
#include "storport_sim.hpp"
#include "tests/driver_image.hpp"
#include "tests/storport_helpers.hpp"
#include "tests/storport_rig.hpp"

using namespace vstor::storport_sim::test;
using vstor::storport_sim::PeDriver;

TEST(PeConvention, CdeclCancelRoutineFailsTheSuite) {
    if (::access(VSTOR_SYS_CDECL_CANCEL_PATH, R_OK) != 0) GTEST_SKIP() << VSTOR_SYS_CDECL_CANCEL_PATH << " not built";
    std::string why;
    auto pe = PeDriver::load(VSTOR_SYS_CDECL_CANCEL_PATH, VSTOR_SYS_CDECL_CANCEL_PATH, &why);
    ASSERT_TRUE(pe) << why;
    current_driver_slot() = pe.get();
    std::vector<std::string> violations;
    {
        Rig rig({{0, mem_backend(1 << 20)}}, 2);
        for (int i = 0; i < 200 && rig.emu.pending_service_irps() < 3; ++i) std::this_thread::sleep_for(10ms);
        ASSERT_EQ(rig.emu.pending_service_irps(), 3u);  // 2 dispatchers and the liveness IRP
        EXPECT_EQ(pe->convention_faults(), 0u);           // every other call into the image is right
        rig.channel.kill();                               // the I/O manager cancels the dead process's IRPs
        EXPECT_EQ(settled_service_irps(rig.emu), 0u);
        rig.service->join();
        violations = rig.violations();
    }
    current_driver_slot() = nullptr;
    EXPECT_GE(pe->convention_faults(), 1u);  // at least the liveness IRP's cancellation
    ASSERT_FALSE(violations.empty());
    const std::string& v = violations.front();
    EXPECT_NE(v.find("calling convention: DRIVER_CANCEL = "), std::string::npos) << v;
    EXPECT_NE(v.find("cancel_parked(_DEVICE_OBJECT*, _IRP*)"), std::string::npos) << v;
    EXPECT_NE(v.find("returned with the stack pointer -8 bytes off (not __stdcall"), std::string::npos) << v;
}
