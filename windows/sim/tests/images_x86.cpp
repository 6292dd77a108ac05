// The 32-bit test binary runs the suites that need no engine in process against the cross-built
// x86 vstor.sys (storport-pe.x86.Pe/*, label storport-pe).
#include "tests/driver_image.hpp"

using vstor::storport_sim::test::image_name;

INSTANTIATE_TEST_SUITE_P(Pe, StorPort, ::testing::Values("x86"), image_name);
INSTANTIATE_TEST_SUITE_P(Pe, StorPortExternal, ::testing::Values("x86"), image_name);
