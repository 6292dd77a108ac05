# Thin wrapper over CMake. Build dir: build/ (server binary build/vstor).
BUILD ?= build
TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build check serve asan tsan bench install windows clean

all: build

deps:
	@scripts/install-deps

# RelWithDebInfo with line tables only (-g1, not CMake's -g): backtraces, perf and sanitizer-free
# crash reports need no more, and the engine's files compile 20-45% faster (nbd/connection.cpp:
# 21.4 s at -g, 14.8 s at -g1). For full debug info: TYPE=Debug, or set the flags in CMAKE_FLAGS.
RELWITHDEBINFO_FLAGS = -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG"

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(TYPE) $(RELWITHDEBINFO_FLAGS) $(CMAKE_FLAGS)

configure: deps $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Everything: unit, interop, guest (QEMU TCG), storport, abuse, sdk in build/, then the sanitizer
# trees. conformance (libiscsi's suite) and ceph run once, in the ASan tree, against the same
# scripts' sanitized server, which checks everything the optimized one would and more: run in
# both trees they cost about 3 minutes of `make check` for nothing new (`ctest -L conformance` or
# `-L ceph` in build/ still runs them there). fuzz (bounded) runs in the ASan tree too, which
# builds the fuzz targets.
check: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE 'fuzz|conformance|ceph'
	$(MAKE) asan tsan

# The sanitizer trees carry line tables only (-g1): all a sanitizer report needs, and the engine
# compiles ~15% faster than with full debug info. They compile the engine's modules and the unit
# tests in unity batches (VSTOR_UNITY_BUILD, CMakeLists.txt): the ASan tree builds in 5.0 instead
# of 11.3 minutes on 2 cores. The ASan tree is built at -O1, as ASan's authors advise: at -O0 each
# byte of a data buffer's resize went through four calls that were not inlined (70% of the
# server's time) and real clients ran 2-27x slower against it. With -O1 the tree builds 2.4 min
# longer and its tests take 3.7 min less (2 cores): the conformance suite 325 -> 164 s, ceph
# 321 -> 250 s, interop 229 -> 117 s.
SAN_CMAKE = -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="$(SAN_OPT)" \
  -DCMAKE_CXX_FLAGS_DEBUG="$(SAN_OPT)" -DVSTOR_UNITY_BUILD=ON $(CMAKE_FLAGS)
asan: SAN_OPT = -O1 -g1
tsan: SAN_OPT = -g1

# ASan+UBSan build in build-asan/ with clang-14: the unit tests, the conformance suite, real
# clients and the RBD gateways (ceph: the backend's watch, recovery and teardown threads) against
# the sanitized server (a sanitizer report makes the server exit non-zero: the test fails), and
# the libFuzzer targets built from the same objects (one engine compile for both).
asan: deps
	cmake -S . -B build-asan $(SAN_CMAKE) -DVSTOR_SANITIZE=address -DVSTOR_FUZZ=ON \
	  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14
	cmake --build build-asan -j $(JOBS) --target vstor vstor_unit_tests serve_my_backend vstor_fuzzers \
	  vstor_ceph_probes
	cd build-asan && ctest --output-on-failure -L 'unit|conformance|interop|fuzz|ceph' -j $(JOBS)

# TSan build in build-tsan/, running the threaded tests.
tsan: deps
	cmake -S . -B build-tsan $(SAN_CMAKE) -DVSTOR_SANITIZE=thread
	cmake --build build-tsan -j $(JOBS) --target vstor_unit_tests
	cd build-tsan && ctest --output-on-failure -L unit -j $(JOBS)

# Benchmarks against tgt and the loopback ceiling (not part of check; a few minutes).
bench: build
	@scripts/install-deps --bench
	bench/run-bench.sh $(BUILD)/vstor $(BUILD)/bench

# Installs under PREFIX (default /usr/local): bin/vstor, the systemd unit, docs, and the SDK
# (include/vstor, libvstor.so.2 and libvstor.a, vstor.pc, the CMake package; docs/sdk.md).
# DESTDIR works too.
PREFIX ?= /usr/local
install: configure
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	cmake --build $(BUILD) -j $(JOBS) --target vstor
	cmake --install $(BUILD)

# Cross-built Windows driver (x64 and x86 vstor.sys, vstor.inf), vstor.exe and vstor-bridge-probe.exe
# into build/dist/windows/ (docs/windows.md).
windows: configure
	cmake --build $(BUILD) -j $(JOBS) --target windows

serve: build
	@mkdir -p data
	$(BUILD)/vstor serve

clean:
	rm -rf $(BUILD) build-asan build-tsan
