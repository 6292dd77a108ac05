#!/usr/bin/env bash
# Interop: real iSCSI clients against `vstor serve` — libiscsi's tools, qemu-img/qemu-io through
# QEMU's iSCSI driver, CHAP accepted and refused, and an initiator ACL.
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
mkdir -p "$out"
rm -f "$out"/*.img
source "$(dirname "$0")/lib.sh"
start() {  # start PORT ARGS...: serve and wait until the portal answers
  local port=$1; shift
  "$vstor" serve --listen 127.0.0.1:$port --log-level warn "$@" >>"$out/vstor.log" 2>&1 &
  pids+=($!)
  wait_port $port
}

iqn=iqn.2026-11.org.vstor:interop
port=$(free_port)
start $port --target $iqn --lun mem:256M --lun "file:$out/disk1.img,size=64M"
url=iscsi://127.0.0.1:$port/$iqn

echo "== iscsi-ls sees the target and both LUNs"
ls_out=$(iscsi-ls -s iscsi://127.0.0.1:$port)
echo "$ls_out"
grep -q "Target:$iqn" <<<"$ls_out" || fail "target not listed"
[ "$(grep -c '^Lun:' <<<"$ls_out")" -eq 2 ] || fail "expected 2 LUNs"

echo "== iscsi-inq / iscsi-readcapacity16"
iscsi-inq "$url/0" | grep "Vendor:VSTOR" >/dev/null || fail "INQUIRY vendor"
cap=$(iscsi-readcapacity16 "$url/0")
grep -q "Total size:268435456" <<<"$cap" || fail "capacity: $cap"
grep -q "LBPME:1" <<<"$cap" || fail "thin LUN must report LBPME"
lbp=$(iscsi-inq -e 1 -c 178 "$url/0")  # Logical Block Provisioning VPD page (B2h)
grep -q "lbprz:1" <<<"$lbp" || fail "B2h must report LBPRZ as READ CAPACITY(16) does: $lbp"
grep -q "provisioning type:2" <<<"$lbp" || fail "B2h provisioning type: $lbp"

echo "== qemu-img convert + compare of 64 MiB of random data"
head -c 64M /dev/urandom >"$out/random.img"
qemu-img convert -n -f raw -O raw "$out/random.img" "$url/1"
qemu-img compare -f raw -F raw "$out/random.img" "$url/1" || fail "data differs after qemu-img convert"

echo "== the same compare with CRC32C header digests negotiated"
json="json:{\"file.driver\":\"iscsi\",\"file.transport\":\"tcp\",\"file.portal\":\"127.0.0.1:$port\",\"file.target\":\"$iqn\",\"file.lun\":1,\"file.header-digest\":\"crc32c\"}"
qemu-img compare -f raw -F raw "$out/random.img" "$json" || fail "data differs with header digests"

echo "== qemu-io write/read pattern"
io=$(qemu-io -f raw -c 'write -P 0xab 1M 1M' -c 'read -P 0xab 1M 1M' -c 'flush' "$url/0" 2>&1)
echo "$io"
grep -q "Pattern verification failed" <<<"$io" && fail "qemu-io pattern mismatch"
grep -q "read 1048576/1048576" <<<"$io" || fail "qemu-io read"

echo "== a 4 KiB-block LUN through QEMU's iSCSI driver"
# QEMU 7.2's block/iscsi.c asks its own iscsi_co_block_status for BDRV_REQUEST_MAX_BYTES
# (0x7ffffe00, not a multiple of 4096) when a read of 32 KiB or more meets blocks it has not yet
# seen allocated on an LBPRZ=1 LUN, and then fails its own alignment assertion. It is QEMU's
# arithmetic, not what the target reports (docs/iscsi.md). Writes, reads of blocks this process
# wrote, smaller reads and qemu-img work; a fully provisioned 4 KiB LUN (LBPRZ=0) works in full.
kport=$(free_port)
start $kport --target $iqn --lun mem:64M,bs=4096 --lun "file:$out/thick4k.img,size=64M,bs=4096,thick" \
  --lun mem:64M,bs=512,pbs=4096
cap4k=$(iscsi-readcapacity16 "iscsi://127.0.0.1:$kport/$iqn/0")
grep -q "LOGICAL BLOCK LENGTH IN BYTES:4096" <<<"$cap4k" || fail "4 KiB LUN capacity: $cap4k"
io=$(qemu-io -f raw -c 'write -P 0x5a 1M 2M' -c 'read -P 0x5a 1M 2M' -c 'read -P 0 0 16k' \
     -c 'write -z 8M 1M' -c 'read -P 0 8M 1M' -c 'flush' "iscsi://127.0.0.1:$kport/$iqn/0" 2>&1) ||
  fail "qemu-io on the 4 KiB LUN: $io"
echo "$io"
grep -q "Pattern verification failed" <<<"$io" && fail "qemu-io pattern mismatch on the 4 KiB LUN"
[ "$(grep -c '^read ' <<<"$io")" -eq 3 ] || fail "qemu-io reads on the 4 KiB LUN: $io"
# A fresh process reads what the first one wrote, in pieces under QEMU's 32 KiB check.
reads=()
for off in $(seq $((1024 * 1024)) 16384 $((3 * 1024 * 1024 - 16384))); do reads+=(-c "read -P 0x5a $off 16k"); done
io=$(qemu-io -f raw "${reads[@]}" "iscsi://127.0.0.1:$kport/$iqn/0" 2>&1) || fail "fresh qemu-io reads: $(tail -3 <<<"$io")"
grep -q "Pattern verification failed" <<<"$io" && fail "data written through QEMU read back wrong"
# The QEMU bug itself, so a QEMU that fixes it is noticed: either its assertion or zeroes.
if io=$(qemu-io -f raw -c 'read -P 0 32M 64k' "iscsi://127.0.0.1:$kport/$iqn/0" 2>&1); then
  grep -q "read 65536/65536" <<<"$io" || fail "64 KiB read of unwritten 4 KiB blocks: $io"
else
  grep -q "iscsi_co_block_status: Assertion" <<<"$io" || fail "64 KiB read of unwritten 4 KiB blocks: $io"
  echo "(QEMU 7.2's block/iscsi.c alignment assertion, as documented)"
fi
# qemu-img asks for block status before it reads, so QEMU learns the map first: both ways work.
head -c 8M "$out/random.img" >"$out/random8m.img"
qemu-img convert -n -f raw -O raw "$out/random8m.img" "iscsi://127.0.0.1:$kport/$iqn/0"
qemu-img compare -f raw -F raw "$out/random8m.img" "iscsi://127.0.0.1:$kport/$iqn/0" >/dev/null ||
  fail "qemu-img round trip through the 4 KiB thin LUN"
# A fully provisioned 4 KiB LUN (LBPME=0, LBPRZ=0) skips QEMU's allocation map: reads of any
# size, written or not, and a round trip.
cap4k=$(iscsi-readcapacity16 "iscsi://127.0.0.1:$kport/$iqn/1")
grep -q "LBPME:0 LBPRZ:0" <<<"$cap4k" || fail "thick 4 KiB LUN provisioning: $cap4k"
io=$(qemu-io -f raw -c 'read -P 0 16M 4M' -c 'write -P 0xc3 1M 3M' -c 'read -P 0xc3 1M 3M' \
     "iscsi://127.0.0.1:$kport/$iqn/1" 2>&1) || fail "qemu-io on the thick 4 KiB LUN: $io"
grep -q "Pattern verification failed" <<<"$io" && fail "qemu-io pattern mismatch on the thick 4 KiB LUN"
[ "$(grep -c '^read ' <<<"$io")" -eq 2 ] || fail "qemu-io reads on the thick 4 KiB LUN: $io"
io=$(qemu-io -f raw -c 'read -P 0xc3 1M 3M' "iscsi://127.0.0.1:$kport/$iqn/1" 2>&1) ||
  fail "fresh 3 MiB read on the thick 4 KiB LUN: $io"
grep -q "Pattern verification failed" <<<"$io" && fail "thick 4 KiB LUN read back wrong in a fresh process"
qemu-img convert -n -f raw -O raw "$out/random8m.img" "iscsi://127.0.0.1:$kport/$iqn/1"
qemu-img compare -f raw -F raw "$out/random8m.img" "iscsi://127.0.0.1:$kport/$iqn/1" >/dev/null ||
  fail "qemu-img round trip through the thick 4 KiB LUN"
# 512e (512-byte blocks, 4 KiB physical): QEMU builds its map (4 KiB clusters) and its request
# length is aligned to 512, so large reads of unwritten blocks are zeroes, not an abort.
io=$(qemu-io -f raw -c 'read -P 0 0 64k' -c 'read -P 0 1M 4M' "iscsi://127.0.0.1:$kport/$iqn/2" 2>&1) ||
  fail "qemu-io on the 512e LUN: $io"
[ "$(grep -c '^read ' <<<"$io")" -eq 2 ] || fail "qemu-io reads on the 512e LUN: $io"
grep -q "Pattern verification failed" <<<"$io" && fail "512e LUN: unwritten blocks not zero"

echo "== CHAP: right secret accepted, wrong secret refused"
cport=$(free_port)
start $cport --target $iqn --lun mem:16M --chap alice:correct-horse-battery
iscsi-inq "iscsi://alice%correct-horse-battery@127.0.0.1:$cport/$iqn/0" >/dev/null || fail "CHAP with the right secret refused"
if iscsi-inq "iscsi://alice%wrong-secret-123@127.0.0.1:$cport/$iqn/0" >/dev/null 2>&1; then fail "CHAP with a wrong secret accepted"; fi
if iscsi-inq "iscsi://127.0.0.1:$cport/$iqn/0" >/dev/null 2>&1; then fail "login without CHAP accepted"; fi

echo "== ACL: allowed initiator accepted, unknown refused"
aport=$(free_port)
start $aport --target $iqn --lun mem:16M --allow iqn.2026-11.org.test:allowed
iscsi-inq -i iqn.2026-11.org.test:allowed "iscsi://127.0.0.1:$aport/$iqn/0" >/dev/null || fail "allowed initiator refused"
if iscsi-inq -i iqn.2026-11.org.test:stranger "iscsi://127.0.0.1:$aport/$iqn/0" >/dev/null 2>&1; then fail "unknown initiator accepted"; fi

echo "== busy poll on: the same 64 MiB written and compared (QEMU, mostly one command at a time)"
bport=$(free_port)
start $bport --target $iqn --lun mem:64M --iscsi-busy-poll 50
qemu-img convert -n -f raw -O raw "$out/random.img" "iscsi://127.0.0.1:$bport/$iqn/0"
qemu-img compare -f raw -F raw "$out/random.img" "iscsi://127.0.0.1:$bport/$iqn/0" ||
  fail "data differs with --iscsi-busy-poll"
if err=$("$vstor" serve --iscsi-busy-poll 1001 2>&1); then fail "--iscsi-busy-poll 1001 accepted"; fi
grep -q "not in range" <<<"$err" || fail "unclear error: $err"

echo "== bad command line: one clear error, non-zero exit"
if err=$("$vstor" serve --lun mem:12Q 2>&1); then fail "bad --lun accepted"; fi
grep -q "bad size '12Q'" <<<"$err" || fail "unclear error: $err"

echo "== SIGTERM: exit 0 after flushing"
kill -TERM "${pids[0]}"
wait "${pids[0]}" || fail "vstor did not exit 0 on SIGTERM"
pids=("${pids[@]:1}")
echo "interop: all checks passed"
