#!/usr/bin/env bash
# Smoke test of vstor.exe (the CLI cross-built for Windows) under Wine (wine64):
#   vstor.exe serve --listen 127.0.0.1:PORT --nbd-listen 127.0.0.1:PORT --metrics 127.0.0.1:PORT
#                   --lun mem:64M --lun file:Z:\...\lun1.img,size=64M
# then, from Linux: iscsi-inq, iscsi-readcapacity16, qemu-io patterns over iscsi:// on both LUNs,
# qemu-img convert/compare of 8 MiB of random data onto LUN 1 and back, the same LUN read over
# nbd://, a second server refused the image (LockFileEx), GET /metrics; SIGINT (Wine turns it into
# Ctrl+C) must end the server with exit 0, and the image file on the Linux side must hold the
# written bytes. Also: the flags that are not available on Windows fail with one line, and
# `--storport` fails because Wine has no StorPort; CHAP logins and `image create` work. Skips (77)
# without wine64.
#
# usage: wine_smoke.sh BUILD_DIR VSTOR_EXE
set -euo pipefail
build=$1
exe=$2
wine=$(command -v wine64 || true)
[ -z "$wine" ] && [ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64
if [ -z "$wine" ]; then
  echo "wine64 not installed: skipped"
  exit 77
fi
[ -f "$exe" ] || { echo "FAIL: $exe missing (cmake --build $build --target vstor_exe)"; exit 1; }
export WINEPREFIX="$build/windows/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
work="$build/windows/wine-smoke"
rm -rf "$work"
mkdir -p "$work"
iqn=iqn.2026-12.org.vstor:wine
img="$work/lun1.img"
winimg="Z:${img//\//\\}"  # Wine maps Z: to /
fail() { echo "FAIL: $*"; echo "--- server log"; cat "$work/serve.log" 2>/dev/null || true; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# One line of output from the server, or the exit code (rc) when it is expected to fail.
expect_refusal() {  # expect_refusal "what it must say" vstor.exe args...
  local want=$1
  shift
  set +e
  out=$(timeout 120 "$wine" "$exe" "$@" 2>&1)
  rc=$?
  set -e
  echo "$out" | sed 's/^/    /'
  [ "$rc" -ne 0 ] || fail "vstor.exe $* exited 0"
  [ "$rc" -ne 124 ] || fail "vstor.exe $* hung"
  echo "$out" | grep "$want" >/dev/null || fail "vstor.exe $*: no '$want'"
}

# Create the prefix once (wineboot), so the timings below are the server's.
timeout 300 "$wine" cmd /c exit >/dev/null 2>&1 || true

port=$(free_port)
nbdport=$(free_port)
mport=$(free_port)
echo "== vstor.exe serve on 127.0.0.1:$port (NBD $nbdport, metrics $mport)"
"$wine" "$exe" serve --listen "127.0.0.1:$port" --nbd-listen "127.0.0.1:$nbdport" --metrics "127.0.0.1:$mport" \
  --target "$iqn" --lun mem:64M --lun "file:$winimg,size=64M" --log-level info >"$work/serve.log" 2>&1 &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "serving .* NBD export" "$work/serve.log" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || fail "vstor.exe exited early"
  sleep 0.2
done
grep -q "serving 2 LUN(s) of $iqn on iscsi://127.0.0.1:$port" "$work/serve.log" || fail "no serving line"
[ -f "$img" ] || fail "image not created on the Linux side"
[ "$(stat -c %s "$img")" -eq $((64 << 20)) ] || fail "image size $(stat -c %s "$img")"
url="iscsi://127.0.0.1:$port/$iqn"

echo "== iscsi-inq, iscsi-readcapacity16"
iscsi-inq "$url/0" | tee "$work/inq.txt"
grep -q "Vendor:VSTOR" "$work/inq.txt" || fail "INQUIRY vendor"
for lun in 0 1; do
  iscsi-readcapacity16 "$url/$lun" | tee "$work/cap$lun.txt"
  grep -q "Total size:$((64 << 20))" "$work/cap$lun.txt" || fail "READ CAPACITY(16) of LUN $lun"
done

echo "== qemu-img convert / compare of 8 MiB of random data onto LUN 1"
head -c $((8 << 20)) /dev/urandom >"$work/random.bin"
qemu-img convert -n -f raw -O raw "$work/random.bin" "$url/1" || fail "qemu-img convert"
qemu-img convert -f raw -O raw "$url/1" "$work/back.bin" || fail "qemu-img convert back"
cmp -n $((8 << 20)) "$work/random.bin" "$work/back.bin" || fail "LUN 1 read back differs"
qemu-img compare -f raw -F raw "$work/random.bin" "$url/1" || fail "qemu-img compare"

echo "== qemu-io patterns on both LUNs"
for lun in 0 1; do
  # LUN 1's first 8 MiB hold the random data: the 0xa5 pattern goes to LUN 0 and to 16M on LUN 1.
  at=$([ $lun = 0 ] && echo 0 || echo 16M)
  out=$(qemu-io -f raw -c "write -P 0xa5 $at 4M" -c "read -P 0xa5 $at 4M" -c 'write -P 0x5a 40M 1M' \
        -c 'read -P 0x5a 40M 1M' -c 'read -P 0 60M 1M' "$url/$lun" 2>&1)
  echo "$out"
  echo "$out" | grep -i "fail\|error" >/dev/null && fail "qemu-io on LUN $lun"
  [ "$(echo "$out" | grep -c '^read ')" -eq 3 ] || fail "qemu-io reads on LUN $lun"
done

echo "== unmap, write-zeroes, FUA and flush on the file LUN"
out=$(qemu-io -f raw -c 'write -P 0x77 44M 2M' -c 'discard 44M 1M' -c 'write -z 45M 1M' -c 'read -P 0 44M 2M' \
      -c 'write -f -P 0x66 50M 64k' -c 'flush' -c 'read -P 0x66 50M 64k' "$url/1" 2>&1)
echo "$out"
echo "$out" | grep -i "fail\|error" >/dev/null && fail "qemu-io unmap/zero/FUA on LUN 1"
[ "$(echo "$out" | grep -c '^read ')" -eq 2 ] || fail "qemu-io reads after unmap"

echo "== the same LUNs over NBD"
nbdinfo --list "nbd://127.0.0.1:$nbdport" | tee "$work/nbd.txt"
grep -q "lun1" "$work/nbd.txt" || fail "NBD export list"
out=$(qemu-io -f raw -c 'read -P 0x5a 40M 1M' -c 'write -P 0x3c 48M 64k' "nbd://127.0.0.1:$nbdport/lun1" 2>&1)
echo "$out"
echo "$out" | grep -i "fail\|error" >/dev/null && fail "qemu-io over NBD"
out=$(qemu-io -f raw -c 'read -P 0x3c 48M 64k' "$url/1" 2>&1)  # written over NBD, read over iSCSI
echo "$out" | grep -i "fail\|error" >/dev/null && fail "NBD write not seen over iSCSI"

echo "== metrics"
python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=30).read().decode())' \
  "http://127.0.0.1:$mport/metrics" >"$work/metrics.txt" || fail "GET /metrics"
grep -q "^vstor_" "$work/metrics.txt" || fail "no vstor_ metrics"
head -3 "$work/metrics.txt"

echo "== a second server may not open the image read-write"
expect_refusal "is in use by another process" serve --listen 127.0.0.1:0 --lun "file:$winimg"

echo "== SIGINT (Ctrl+C under Wine): clean shutdown"
kill -INT $pid
set +e
for _ in $(seq 1 300); do kill -0 $pid 2>/dev/null || break; sleep 0.2; done
kill -0 $pid 2>/dev/null && fail "still running 60 s after SIGINT"
wait $pid
rc=$?
set -e
trap - EXIT
cat "$work/serve.log"
[ "$rc" -eq 0 ] || fail "exit code $rc after SIGINT"
grep -q "Ctrl+C received, shutting down" "$work/serve.log" || fail "no shutdown message"

echo "== the image on the Linux side holds what was written"
cmp -n $((8 << 20)) "$work/random.bin" "$img" || fail "image: random data"
python3 - "$img" <<'EOF' || fail "image: patterns"
import sys
d = open(sys.argv[1], "rb").read()
M = 1 << 20
assert d[16 * M:20 * M] == b"\xa5" * (4 * M), "0xa5 at 16M"
assert d[40 * M:41 * M] == b"\x5a" * M, "0x5a at 40M"
assert d[48 * M:48 * M + 65536] == b"\x3c" * 65536, "0x3c at 48M (NBD)"
assert d[60 * M:61 * M] == bytes(M), "zeroes at 60M"
assert d[44 * M:46 * M] == bytes(2 * M), "unmapped/zeroed 44M..46M"
assert d[50 * M:50 * M + 65536] == b"\x66" * 65536, "FUA write at 50M"
EOF

echo "== CHAP (MD5 from CNG on Windows): right secret logs in, wrong one does not"
cport=$(free_port)
"$wine" "$exe" serve --listen "127.0.0.1:$cport" --target "$iqn" --lun mem:16M --chap alice:a-long-secret1 \
  >"$work/chap.log" 2>&1 &
cpid=$!
trap 'kill -9 $cpid 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do grep -q "serving" "$work/chap.log" 2>/dev/null && break; sleep 0.2; done
iscsi-inq "iscsi://alice%a-long-secret1@127.0.0.1:$cport/$iqn/0" | grep "Vendor:VSTOR" >/dev/null || fail "CHAP login"
if iscsi-inq "iscsi://alice%wrong-secret-xx@127.0.0.1:$cport/$iqn/0" >/dev/null 2>&1; then fail "CHAP wrong secret accepted"; fi
kill -INT $cpid
wait $cpid || fail "CHAP server exit code $?"
trap - EXIT

echo "== vstor.exe image create: sparse and thick images"
timeout 120 "$wine" "$exe" image create "Z:${work//\//\\}\\thin.img" --size 16M >/dev/null || fail "image create"
timeout 120 "$wine" "$exe" image create "Z:${work//\//\\}\\thick.img" --size 16M --thick >/dev/null 2>&1 ||
  fail "image create --thick"
for f in thin thick; do
  [ "$(stat -c %s "$work/$f.img")" -eq $((16 << 20)) ] || fail "$f.img size"
  cmp -n $((16 << 20)) "$work/$f.img" /dev/zero || fail "$f.img is not all zeroes"
done
if timeout 120 "$wine" "$exe" image create "Z:${work//\//\\}\\thin.img" --size 16M >/dev/null 2>&1; then
  fail "image create overwrote a file"
fi

echo "== what is not available on Windows says so"
expect_refusal "not available on Windows" serve --listen 127.0.0.1:0 --lun mem:1M --control 'C:\vstor.sock'
expect_refusal "not available on Windows" serve --listen 127.0.0.1:0 --lun mem:1M --nbd-listen 127.0.0.1:0 \
  --nbd-tls require,psk=Z:\\nonexistent
expect_refusal "not available on Windows" ctl status
echo "== --storport: Wine has no StorPort"
expect_refusal "no vstor adapter" serve --storport --lun mem:16M
echo "wine smoke: ok"
