// The driver a storport test runs against: the natively compiled sources ("native"), or the
// cross-built vstor.sys of this process's architecture loaded from its PE file ("x64" in the
// 64-bit test binary, "x86" in the 32-bit one). Suites derive from DriverImageTest and are
// instantiated once per image; code that builds an Emulator takes driver().
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <unistd.h>

#include "pe_driver.hpp"
#include "storport_sim.hpp"

namespace vstor::storport_sim::test {

inline DriverCode*& current_driver_slot() {
    static DriverCode* d = nullptr;
    return d;
}

// The current test's driver (the native one outside a parameterized suite, where it exists).
inline DriverCode& driver() {
#if defined(VSTOR_TEST_HAS_NATIVE_DRIVER)
    if (!current_driver_slot()) return native_driver();
#endif
    return *current_driver_slot();
}

class DriverImageTest : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        if (GetParam() == "native") {
#if defined(VSTOR_TEST_HAS_NATIVE_DRIVER)
            current_driver_slot() = &native_driver();
            return;
#endif
        }
        // VSTOR_TEST_SYS (and VSTOR_TEST_SYS_SYMBOLS) run the suite against another build of the
        // image, e.g. an older commit's, to show what the checks catch.
        const char* other = std::getenv("VSTOR_TEST_SYS");
        const std::string path = other ? other : VSTOR_SYS_PATH;
        const char* other_symbols = std::getenv("VSTOR_TEST_SYS_SYMBOLS");
        const std::string symbols = other_symbols ? other_symbols : other ? "" : VSTOR_SYS_SYMBOLS_PATH;
        if (::access(path.c_str(), R_OK) != 0) GTEST_SKIP() << path << " not built (needs the mingw-w64 cross compilers)";
        std::string why;
        pe_ = PeDriver::load(path, symbols, &why);
        ASSERT_TRUE(pe_) << why;
        current_driver_slot() = pe_.get();
    }
    void TearDown() override {
        current_driver_slot() = nullptr;
        if (pe_) {
            EXPECT_EQ(pe_->convention_faults(), 0u) << "calls into " << pe_->name() << " broke the calling convention";
        }
        pe_.reset();
    }

private:
    std::unique_ptr<PeDriver> pe_;
};

// gtest parameter names: "native", "x64", "x86".
inline std::string image_name(const ::testing::TestParamInfo<std::string>& info) { return info.param; }

}  // namespace vstor::storport_sim::test

// The parameterized suites (tests/storport_*_test.cpp), instantiated per binary in
// tests/images_*.cpp: native and x64 in the 64-bit test binary, x86 in the 32-bit one.
class StorPort : public vstor::storport_sim::test::DriverImageTest {};
class StorPortEmulator : public vstor::storport_sim::test::DriverImageTest {};
class StorPortExternal : public vstor::storport_sim::test::DriverImageTest {};
