# The 32-bit emulator for the x86 vstor.sys (CTest label storport-pe): the emulator and the PE
# loader (VSTOR_EMULATOR_SOURCES) and the whole storport suite, built with -m32 (Debian's
# g++-multilib, scripts/install-deps) together with its own 32-bit GoogleTest from
# /usr/src/googletest and a 32-bit build of the engine the rigs run in process (vstor_engine32:
# util, scsi, adapter, the mem backend and the bridge service; fmt and spdlog from their headers,
# compiled once in windows/cli/log_impl.cpp as for vstor.exe, so no i386 packages are needed).
# No driver sources: the driver is the x86 image. The external test's
# service side is the 64-bit `vstor serve --storport-connect`, which talks to this process over TCP
# (ioctl_server). Not built in sanitizer trees (TSan has no 32-bit runtime) or without the x86 image.
set(VSTOR_GTEST_SRC /usr/src/googletest/googletest)
# Can we build 32-bit programs, and run them? Some kernels and sandboxes (gVisor) cannot execute
# i386 binaries; then they run under qemu-user's qemu-i386 (scripts/install-deps), which emulates
# the CPU of the 32-bit process and passes its system calls (threads, sockets) to this kernel.
if(NOT DEFINED VSTOR_M32_RUNS)
  file(WRITE ${CMAKE_BINARY_DIR}/m32check/m32check.cpp
       "#include <string>\nint main() { return std::string(\"x\").size() == 1 ? 0 : 1; }\n")
  try_run(VSTOR_M32_RUNS VSTOR_M32_COMPILES ${CMAKE_BINARY_DIR}/m32check ${CMAKE_BINARY_DIR}/m32check/m32check.cpp
          COMPILE_DEFINITIONS -m32 LINK_OPTIONS -m32 COPY_FILE ${CMAKE_BINARY_DIR}/m32check/m32check)
endif()
set(VSTOR_HAVE_M32 ${VSTOR_M32_COMPILES})
set(VSTOR_X86_RUNNER "")
if(VSTOR_HAVE_M32 AND NOT VSTOR_M32_RUNS STREQUAL "0")
  find_program(VSTOR_QEMU_I386 qemu-i386)
  if(VSTOR_QEMU_I386)
    set(VSTOR_X86_RUNNER ${VSTOR_QEMU_I386})
  else()
    set(VSTOR_HAVE_M32 FALSE)
    message(STATUS "storport-pe x86: this machine cannot run i386 programs and qemu-i386 (qemu-user) is missing")
  endif()
endif()

if(NOT TARGET vstor_sys_x86)
  message(STATUS "storport-pe x86: no x86 vstor.sys (i686-w64-mingw32-g++), not built")
elseif(NOT VSTOR_HAVE_M32)
  message(STATUS "storport-pe x86: no 32-bit C++ toolchain (g++-multilib: scripts/install-deps), not built")
elseif(NOT EXISTS ${VSTOR_GTEST_SRC}/src/gtest-all.cc)
  message(STATUS "storport-pe x86: no GoogleTest sources in ${VSTOR_GTEST_SRC} (googletest), not built")
elseif(VSTOR_SANITIZE)
  message(STATUS "storport-pe x86: not built in a sanitizer tree")
else()
  add_library(vstor_gtest32 STATIC ${VSTOR_GTEST_SRC}/src/gtest-all.cc ${VSTOR_GTEST_SRC}/src/gtest_main.cc)
  target_include_directories(vstor_gtest32 PRIVATE ${VSTOR_GTEST_SRC})
  target_include_directories(vstor_gtest32 SYSTEM PUBLIC ${VSTOR_GTEST_SRC}/include)
  target_compile_options(vstor_gtest32 PRIVATE -m32 -w)
  target_link_options(vstor_gtest32 INTERFACE -m32)

  # The engine for the rigs, 32-bit: the modules the bridge service and a mem LUN need, with the
  # same source selection as src/CMakeLists.txt (no *_win32.cpp). The Linux build's modules link
  # the compiled fmt/spdlog (64-bit only here); these compile them from their headers, once
  # (header-only, spdlog cost every file that logs ~10 s more).
  set(engine_src ${CMAKE_SOURCE_DIR}/src)
  file(GLOB engine32_sources CONFIGURE_DEPENDS ${engine_src}/util/*.cpp ${engine_src}/scsi/*.cpp
       ${engine_src}/adapter/*.cpp ${engine_src}/backends/mem/*.cpp)
  list(FILTER engine32_sources EXCLUDE REGEX "_win32\\.cpp$")
  add_library(vstor_engine32 STATIC ${engine32_sources} ${engine_src}/bridge/service.cpp
              ${CMAKE_SOURCE_DIR}/windows/cli/log_impl.cpp)
  target_include_directories(vstor_engine32 PUBLIC ${CMAKE_SOURCE_DIR}/include ${engine_src})
  target_compile_definitions(vstor_engine32 PUBLIC SPDLOG_COMPILED_LIB SPDLOG_FMT_EXTERNAL
                             ASIO_STANDALONE ASIO_NO_DEPRECATED)
  target_compile_options(vstor_engine32 PRIVATE -m32)
  target_link_options(vstor_engine32 INTERFACE -m32)
  target_link_libraries(vstor_engine32 INTERFACE pthread)
  add_dependencies(vstor_engine32 vstor_layers vstor_limits)

  add_executable(vstor_storport_tests_x86 ${VSTOR_EMULATOR_SOURCES}
    tests/storport_io_test.cpp tests/storport_service_loss_test.cpp
    tests/storport_reset_test.cpp tests/storport_pnp_power_test.cpp
    tests/storport_service_test.cpp tests/storport_handle_close_test.cpp
    tests/storport_power_hand_test.cpp tests/storport_direct_io_test.cpp tests/pe_loader_test.cpp
    tests/pe_cdecl_cancel_test.cpp tests/images_x86.cpp)
  target_compile_options(vstor_storport_tests_x86 PRIVATE -m32)
  target_link_options(vstor_storport_tests_x86 PRIVATE -m32)
  target_include_directories(vstor_storport_tests_x86 PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}
    ${CMAKE_CURRENT_SOURCE_DIR}/../driver ${CMAKE_CURRENT_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR}/include)
  target_compile_definitions(vstor_storport_tests_x86 PRIVATE VSTOR_STORPORT_SIM
    VSTOR_CLI_PATH="$<TARGET_FILE:vstor>" VSTOR_WINEPREFIX_PATH="${CMAKE_BINARY_DIR}/windows/wineprefix"
    VSTOR_SYS_PATH="${CMAKE_BINARY_DIR}/windows/x86/vstor.sys"
    VSTOR_SYS_SYMBOLS_PATH="${CMAKE_BINARY_DIR}/windows/x86/vstor-unfixed.sys"
    VSTOR_SYS_OTHER_PATH="${CMAKE_BINARY_DIR}/windows/x64/vstor.sys"
    VSTOR_SYS_CDECL_CANCEL_PATH="${CMAKE_BINARY_DIR}/windows/x86/cdecl-cancel/vstor.sys")
  target_link_libraries(vstor_storport_tests_x86 PRIVATE vstor_engine32 vstor_gtest32 pthread)
  add_dependencies(vstor_storport_tests_x86 vstor vstor_sys_x86 vstor_sys_x86_cdecl_cancel vstor_layers vstor_limits)
  if(VSTOR_X86_RUNNER)
    set_target_properties(vstor_storport_tests_x86 PROPERTIES CROSSCOMPILING_EMULATOR ${VSTOR_X86_RUNNER})
    message(STATUS "storport-pe x86: i386 programs run under ${VSTOR_X86_RUNNER}")
  endif()
  gtest_discover_tests(vstor_storport_tests_x86 TEST_PREFIX storport-pe.x86.
                       PROPERTIES LABELS storport-pe TIMEOUT 300 DISCOVERY_TIMEOUT 60)
endif()
