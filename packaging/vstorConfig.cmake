# find_package(vstor): vstor::vstor (libvstor.so.2) and vstor::vstor_static (libvstor.a), each
# with the public headers on its include path and C++20 required (docs/sdk.md).
include("${CMAKE_CURRENT_LIST_DIR}/vstorTargets.cmake")
