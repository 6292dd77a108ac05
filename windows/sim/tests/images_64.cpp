// The 64-bit test binary runs each suite against the natively compiled driver (CTest
// storport.StorPort.*/native, label storport) and the cross-built x64 vstor.sys
// (storport-pe.x64.Pe/StorPort.*/x64, label storport-pe).
#include "tests/driver_image.hpp"

using vstor::storport_sim::test::image_name;

INSTANTIATE_TEST_SUITE_P(, StorPort, ::testing::Values("native"), image_name);
INSTANTIATE_TEST_SUITE_P(Pe, StorPort, ::testing::Values("x64"), image_name);
INSTANTIATE_TEST_SUITE_P(, StorPortEmulator, ::testing::Values("native"), image_name);
INSTANTIATE_TEST_SUITE_P(Pe, StorPortEmulator, ::testing::Values("x64"), image_name);
INSTANTIATE_TEST_SUITE_P(, StorPortExternal, ::testing::Values("native"), image_name);
INSTANTIATE_TEST_SUITE_P(Pe, StorPortExternal, ::testing::Values("x64"), image_name);
