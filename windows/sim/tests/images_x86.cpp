// The 32-bit test binary runs each suite against the cross-built x86 vstor.sys
// (storport-pe.x86.Pe/*, label storport-pe), the engine-backed ones with a 32-bit engine in process.
#include "tests/driver_image.hpp"

using vstor::storport_sim::test::image_name;

INSTANTIATE_TEST_SUITE_P(Pe, StorPort, ::testing::Values("x86"), image_name);
INSTANTIATE_TEST_SUITE_P(Pe, StorPortEmulator, ::testing::Values("x86"), image_name);
INSTANTIATE_TEST_SUITE_P(Pe, StorPortExternal, ::testing::Values("x86"), image_name);
