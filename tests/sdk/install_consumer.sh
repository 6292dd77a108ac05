#!/usr/bin/env bash
# The installed SDK as a user gets it: `cmake --install` into a temporary prefix (no root), then
# - the files: headers, libvstor.so -> .so.2 -> .so.2.x.y (soname libvstor.so.2), libvstor.a,
#   vstor.pc, the CMake package;
# - the headers: exactly include/vstor/ (which sdk_headers_alone checks: each compiles alone and
#   includes nothing private);
# - libvstor.so exports the public API (vstor::Adapter, Backend, IscsiServer, NbdServer, sense)
#   and none of the engine, the protocol code or Asio;
# - examples/serve_my_backend.cpp built out of tree with only `pkg-config --cflags --libs vstor`,
#   and with find_package(vstor) against the shared and the static library, each driven by real
#   clients (drive_ramdisk.sh).
#   install_consumer.sh BUILD-DIR SOURCE-DIR WORKDIR CXX
set -euo pipefail
build=${1:?build dir} src=${2:?source dir} out=${3:?work directory} cxx=${4:?C++ compiler}
here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "FAIL: $*"; exit 1; }
rm -rf "$out"
mkdir -p "$out"
prefix=$out/prefix
cmake --install "$build" --prefix "$prefix" >"$out/install.log"

pc=$(find "$prefix" -name vstor.pc)
[ -n "$pc" ] || fail "vstor.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
echo "== installed into $prefix (libdir $libdir)"
[ -x "$prefix/bin/vstor" ] || fail "bin/vstor"
[ -f "$libdir/libvstor.a" ] || fail "libvstor.a"
[ "$(readlink "$libdir/libvstor.so")" = libvstor.so.2 ] || fail "libvstor.so -> libvstor.so.2"
real=$(readlink "$libdir/libvstor.so.2")
[[ $real =~ ^libvstor\.so\.2\.[0-9]+\.[0-9]+$ ]] || fail "libvstor.so.2 -> $real, expected libvstor.so.2.x.y"
readelf -d "$libdir/$real" | grep 'SONAME.*\[libvstor\.so\.2\]' >/dev/null || fail "soname is not libvstor.so.2"
[ -f "$libdir/cmake/vstor/vstorConfig.cmake" ] || fail "CMake package"

echo "== headers: include/vstor as it is (sdk_headers_alone compiles each alone), nothing else"
diff -r "$src/include" "$prefix/include" || fail "the installed headers differ from include/"

echo "== exported symbols"
nm -D -C --defined-only "$libdir/$real" | cut -d' ' -f3- >"$out/exports.txt"
for want in 'vstor::Adapter::create' 'vstor::IscsiServer::create' 'vstor::NbdServer::create' \
            'typeinfo for vstor::Backend' 'vstor::scsi::decode_sense' 'vstor::to_string(vstor::IoStatus)' \
            'vstor::LunSubscription::reset()'; do
  grep -qF "$want" "$out/exports.txt" || fail "libvstor.so does not export $want"
done
# Everything exported names vstor (the public headers' namespace); of vstor::scsi, only the
# public sense functions; no private module, no implementation class.
private=$(grep -vE '^(VSTOR_2|vstor::|(typeinfo|typeinfo name|vtable) for vstor::)' "$out/exports.txt" || true)
private+=$(grep -E '^vstor::(util|iscsi|nbd|servers|backends|config|control|cli|bridge)::|[A-Za-z]Impl\b|Impl::' "$out/exports.txt" || true)
private+=$(grep -E '^vstor::scsi::' "$out/exports.txt" | grep -vE '^vstor::scsi::(sense::|decode_sense|encode_fixed|encode_descriptor)' || true)
[ -z "$private" ] || fail "libvstor.so exports private symbols: $(head -5 <<<"$private")"
echo "$(wc -l <"$out/exports.txt") symbols exported, $(grep -c vstor:: "$out/exports.txt") of them name vstor::"

echo "== out-of-tree consumer: pkg-config --cflags --libs vstor"
flags=$(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags --libs vstor)
echo "pkg-config: $flags"
launcher=$(command -v ccache || true)  # repeated runs compile the example once
$launcher "$cxx" -std=c++20 -o "$out/serve-pc" "$src/examples/serve_my_backend.cpp" $flags
LD_LIBRARY_PATH=$libdir ldd "$out/serve-pc" | grep "libvstor.so.2 => $libdir/" >/dev/null || fail "serve-pc does not use the installed libvstor.so.2"
LD_LIBRARY_PATH=$libdir "$here/drive_ramdisk.sh" "$out/serve-pc" "$out/pc"

echo "== out-of-tree consumer: find_package(vstor)"
cmake -S "$here/consumer" -B "$out/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_COMPILER_LAUNCHER="$launcher" \
  -DEXAMPLE="$src/examples/serve_my_backend.cpp" -DCMAKE_BUILD_TYPE=Release >"$out/cmake.log"
cmake --build "$out/cmake" >>"$out/cmake.log" || { cat "$out/cmake.log"; fail "CMake consumer build"; }
ldd "$out/cmake/serve_shared" | grep "libvstor.so.2 => $libdir/" >/dev/null || fail "serve_shared does not use libvstor.so.2"
if ldd "$out/cmake/serve_static" | grep libvstor >/dev/null; then fail "serve_static needs libvstor.so"; fi
"$here/drive_ramdisk.sh" "$out/cmake/serve_shared" "$out/cmake-shared"
"$here/drive_ramdisk.sh" "$out/cmake/serve_static" "$out/cmake-static"
rm -rf "$prefix" "$out/cmake"  # a few hundred MB with debug information
echo "OK: the installed SDK builds and serves"
