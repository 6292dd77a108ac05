// The driver a storport test runs against: the natively compiled sources ("native"), or the
// cross-built vstor.sys of this process's architecture loaded from its PE file ("x64" in the
// 64-bit test binary, "x86" in the 32-bit one). Suites derive from DriverImageTest and are
// instantiated once per image; code that builds an Emulator takes driver().
#pragma once

#include <gtest/gtest.h>

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
        const std::string path = VSTOR_SYS_PATH;
        if (::access(path.c_str(), R_OK) != 0) GTEST_SKIP() << path << " not built (needs the mingw-w64 cross compilers)";
        std::string why;
        pe_ = PeDriver::load(path, VSTOR_SYS_SYMBOLS_PATH, &why);
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
