// The PE loader and the calling-convention thunk on their own: the cross-built vstor.sys of this
// process's architecture is mapped away from its preferred base with every import bound, an image
// importing something the emulator lacks is refused by name, the other architecture's image is
// refused, and a routine that breaks the Windows convention is caught (so the check can fail).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "pe_call.hpp"
#include "pe_driver.hpp"
#include "pe_exports.hpp"
#include "pe_image.hpp"
#include "storport_sim.hpp"

using vstor::storport_sim::Emulator;
using vstor::storport_sim::PeDriver;
using vstor::storport_sim::PeExport;
using vstor::storport_sim::PeImage;

namespace {

constexpr bool k64 = sizeof(void*) == 8;

bool built(const char* path) { return ::access(path, R_OK) == 0; }

#if defined(__x86_64__)
// A routine that returns normally but clobbers RSI, which the Windows x64 convention makes
// callee-saved (a System V routine called as ms_abi may do exactly this).
extern "C" void vs_test_clobbers_rsi();
asm(".pushsection .text\n"
    ".globl vs_test_clobbers_rsi\n"
    "vs_test_clobbers_rsi:\n"
    "    xorl %esi, %esi\n"
    "    ret\n"
    ".popsection\n");
__attribute__((ms_abi)) std::uintptr_t keeps_the_convention(std::uintptr_t a, std::uintptr_t b) { return a + b; }
#else
// A cdecl routine handed over where stdcall is due: it leaves its 8 bytes of arguments on the stack.
__attribute__((cdecl)) std::uintptr_t cdecl_routine(std::uintptr_t a, std::uintptr_t b) { return a + b; }
__attribute__((stdcall)) std::uintptr_t keeps_the_convention(std::uintptr_t a, std::uintptr_t b) { return a + b; }
#endif

}  // namespace

TEST(PeLoader, MapsRelocatesAndBindsTheImage) {
    if (!built(VSTOR_SYS_PATH)) GTEST_SKIP() << VSTOR_SYS_PATH << " not built";
    std::string why;
    auto img = PeImage::load(VSTOR_SYS_PATH, vstor::storport_sim::pe_exports(), &why);
    ASSERT_TRUE(img) << why;
    EXPECT_NE(img->base(), img->preferred_base()) << "the relocations were not exercised";
    EXPECT_EQ(img->preferred_base(), k64 ? 0x140000000u : 0x10000u);
    // At least 3 from storport.sys and 8 from ntoskrnl.exe (x64) / 6 from it and 2 from hal.dll (x86).
    EXPECT_GE(img->bound_imports(), 11u);
    EXPECT_TRUE(img->contains(img->entry_point()));

    // DriverEntry runs in the image and registers routines that lie in the image.
    auto pe = PeDriver::load(VSTOR_SYS_PATH, VSTOR_SYS_SYMBOLS_PATH, &why);
    ASSERT_TRUE(pe) << why;
    Emulator emu(*pe);
    ASSERT_EQ(emu.load_driver(), STATUS_SUCCESS);
    const auto& reg = pe->registered;
    for (const void* fn : {reinterpret_cast<const void*>(reg.HwFindAdapter), reinterpret_cast<const void*>(reg.HwStartIo),
                           reinterpret_cast<const void*>(reg.HwProcessServiceRequest)})
        EXPECT_TRUE(pe->image().contains(fn));
    // The emulator calls them through the thunks, not directly.
    EXPECT_FALSE(pe->image().contains(reinterpret_cast<const void*>(emu.init_data().HwStartIo)));
    if (pe->image().symbol_count() != 0 || built(VSTOR_SYS_SYMBOLS_PATH)) {
        const std::string name = pe->image().describe(reinterpret_cast<const void*>(reg.HwStartIo));
        EXPECT_NE(name.find("VsHwStartIo"), std::string::npos) << name;
    }
    EXPECT_EQ(pe->convention_faults(), 0u);
    EXPECT_TRUE(emu.violations().empty());
}

TEST(PeLoader, RefusesAnImportItDoesNotProvide) {
    if (!built(VSTOR_SYS_PATH)) GTEST_SKIP() << VSTOR_SYS_PATH << " not built";
    std::vector<PeExport> fewer;
    for (const auto& e : vstor::storport_sim::pe_exports())
        if (std::strcmp(e.name, "IoSetDeviceInterfaceState") != 0) fewer.push_back(e);
    std::string why;
    EXPECT_FALSE(PeImage::load(VSTOR_SYS_PATH, fewer, &why));
    EXPECT_NE(why.find("ntoskrnl.exe!IoSetDeviceInterfaceState, which the emulator does not provide"), std::string::npos)
        << why;
}

TEST(PeLoader, RefusesTheOtherArchitecture) {
    if (!built(VSTOR_SYS_OTHER_PATH)) GTEST_SKIP() << VSTOR_SYS_OTHER_PATH << " not built";
    std::string why;
    EXPECT_FALSE(PeImage::load(VSTOR_SYS_OTHER_PATH, vstor::storport_sim::pe_exports(), &why));
    EXPECT_NE(why.find(k64 ? "this emulator runs x64" : "this emulator runs x86"), std::string::npos) << why;
}

// The check itself: a routine that keeps the convention passes, one that breaks it is caught.
TEST(PeLoader, ConventionCheckCatchesAMismatch) {
    const std::uintptr_t args[4] = {40, 2, 0, 0};
    VsPeCallCheck good{};
    EXPECT_EQ(vs_pe_call(reinterpret_cast<const void*>(&keeps_the_convention), args, 2, &good), 42u);
    EXPECT_EQ(good.stack_delta, 0);
    EXPECT_EQ(good.regs_clobbered, 0u);
    VsPeCallCheck bad{};
#if defined(__x86_64__)
    vs_pe_call(reinterpret_cast<const void*>(&vs_test_clobbers_rsi), args, 2, &bad);
    EXPECT_NE(bad.regs_clobbered, 0u);
#else
    EXPECT_EQ(vs_pe_call(reinterpret_cast<const void*>(&cdecl_routine), args, 2, &bad), 42u);
    EXPECT_EQ(bad.stack_delta, -8);  // the two arguments the callee should have popped
#endif
}
