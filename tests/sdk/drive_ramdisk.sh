#!/usr/bin/env bash
# Drives a build of examples/serve_my_backend.cpp (the 64 MiB RamDisk served over iSCSI and NBD)
# with real clients and checks the bytes: random data in over NBD (nbdcopy) comes back over
# iSCSI (qemu-img through QEMU's libiscsi driver), other data in over iSCSI comes back over NBD,
# libiscsi's iscsi-readcapacity16 and nbdinfo see 64 MiB, and SIGTERM ends it with status 0.
#   drive_ramdisk.sh PROGRAM WORKDIR
set -euo pipefail
program=${1:?program} out=${2:?work directory}
mkdir -p "$out"
fail() { echo "FAIL: $*"; [ -f "$out/server.log" ] && cat "$out/server.log"; exit 1; }
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -f "$out"/*.raw; }
trap cleanup EXIT

"$program" 0 0 >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ "$(grep -c :// "$out/server.log")" = 2 ] && break; sleep 0.1; done
iscsi=$(grep -o 'iscsi://[^ ]*' "$out/server.log") || fail "no iSCSI URL printed"
nbd=$(grep -o 'nbd://[^ ]*' "$out/server.log") || fail "no NBD URL printed"
echo "serving $iscsi and $nbd"

size=$((64 << 20))
[ "$(nbdinfo --size "$nbd")" = $size ] || fail "nbdinfo size"
capacity=$(iscsi-readcapacity16 "$iscsi")
grep -q "LOGICAL BLOCK LENGTH IN BYTES:512" <<<"$capacity" || fail "iscsi-readcapacity16 block length: $capacity"
grep -q "Total size:$size" <<<"$capacity" || fail "iscsi-readcapacity16 size: $capacity"

head -c $size /dev/urandom >"$out/in.raw"
nbdcopy "$out/in.raw" "$nbd"
qemu-img convert -f raw -O raw "$iscsi" "$out/via-iscsi.raw"
cmp "$out/in.raw" "$out/via-iscsi.raw" || fail "written over NBD, read over iSCSI: bytes differ"

head -c $size /dev/urandom >"$out/in2.raw"
qemu-img convert -n -f raw -O raw "$out/in2.raw" "$iscsi"
nbdcopy "$nbd" "$out/via-nbd.raw"
cmp "$out/in2.raw" "$out/via-nbd.raw" || fail "written over iSCSI, read over NBD: bytes differ"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ $status = 0 ] || fail "exit status $status after SIGTERM"
echo "OK: $program"
