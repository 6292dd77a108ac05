#!/usr/bin/env bash
# Interop: Python plugins (`--lun python:SCRIPT.py`, src/backends/python) served by `vstor serve` and
# driven by real clients. The example RAM disk from the TOML file: nbdinfo (size, hole map), an
# nbdcopy round trip with a checksum, the same bytes through QEMU's iSCSI driver, its identity in
# iscsi-inq. The example file disk (thread model parallel) added with `vstor ctl lun add`: nbdcopy
# with several connections and requests in flight, the file's own checksum after a flush. The
# errors script: each exception's errno reaches qemu-io over NBD as the matching error, and the
# exception's message reaches the log. A rejected key and a missing script are refused by name.
# `ctl save` writes the Python LUNs back and a restart from the saved file serves them.
set -euo pipefail
vstor=${1:?path to vstor binary}
src=${2:?source tree}
scripts=${3:?directory of the test scripts (build/tests/python)}
out=${4:?work directory}
rm -rf "$out"; mkdir -p "$out"
source "$(dirname "$0")/lib.sh"

iqn=iqn.2026-12.org.vstor:python
sock="$out/control.sock"
ramdisk=$src/examples/python/ramdisk.py
write_config "python:$ramdisk,size=64M,serial=py-interop,name=rd"
serve_controlled "$out/vstor.toml"
nbd=nbd://127.0.0.1:$nport
url=iscsi://127.0.0.1:$port/$iqn

ramdisk_round_trip rd 0 VSTORPY RAMDISK

echo "== ctl lun add: the file disk (parallel); nbdcopy with 4 connections, 16 requests each"
truncate -s 16M "$out/file.img"
ctl lun add "python:$src/examples/python/filedisk.py,file=$out/file.img,name=fd"
head -c 16M /dev/urandom >"$out/random16.img"
nbdcopy --connections=4 --requests=16 --flush "$out/random16.img" "$nbd/fd"
cmp "$out/random16.img" "$out/file.img" || fail "the file behind the Python file disk differs"
nbdcopy --connections=4 --requests=16 "$nbd/fd" "$out/back16.img"
cmp "$out/random16.img" "$out/back16.img" || fail "file disk read back differs"

echo "== ctl lun add: the errors script; each exception's errno reaches the NBD client as its error"
ctl lun add "python:$scripts/errors.py,name=errs"
expect_io_error "$nbd/errs" 64k read "Input/output error"
expect_io_error "$nbd/errs" 128k write "No space left on device"
expect_io_error "$nbd/errs" 192k write "Operation not permitted"
expect_io_error "$nbd/errs" 256k read "Invalid argument"
qemu-io -f raw -c "read -P 0 0 4k" "$nbd/errs" >"$out/ok.txt" || fail "the errors script's region 0 read"
grep "read 4096" "$out/ok.txt" >/dev/null || fail "the errors script's region 0 works"
grep "RuntimeError: injected failure on read at offset 65536 (errors.py:" "$out/vstor.log" >/dev/null ||
  fail "the exception's message is not in the log"

echo "== refusals by name: a key the script rejects, a missing script"
if ctl lun add "python:$ramdisk,colour=red" 2>"$out/err.txt"; then fail "rejected key accepted"; fi
grep "rejected colour=red: ValueError: unknown key 'colour'" "$out/err.txt" >/dev/null ||
  fail "rejected key message: $(cat "$out/err.txt")"
if ctl lun add "python:$out/nothing.py" 2>"$out/err.txt"; then fail "missing script accepted"; fi
grep "no such file" "$out/err.txt" >/dev/null || fail "missing script message: $(cat "$out/err.txt")"

echo "== ctl save writes the Python LUNs back; a restart serves them"
ctl save "$out/saved.toml"
cat "$out/saved.toml"
grep "python:$ramdisk,size=64M,serial=py-interop,name=rd" "$out/saved.toml" >/dev/null || fail "ramdisk spec in save"
grep "python:$src/examples/python/filedisk.py,file=$out/file.img,name=fd" "$out/saved.toml" >/dev/null ||
  fail "file disk spec in save"
grep "python:$scripts/errors.py,name=errs" "$out/saved.toml" >/dev/null || fail "errors script spec in save"
kill "$server"; wait "$server" 2>/dev/null || true
serve_controlled "$out/saved.toml"
list=$(nbdinfo --list "$nbd")
for e in rd fd errs; do grep -q "export=\"$e\"" <<<"$list" || fail "restart from the saved file: $list"; done
nbdcopy "$nbd/fd" "$out/again16.img"
cmp "$out/random16.img" "$out/again16.img" || fail "file disk after the restart"

echo "== --lun python: with a script that does not run: refused by name"
printf 'def open(readonly)\n' >"$out/broken.py"
if "$vstor" serve --control off --listen 127.0.0.1:$(free_port) --target $iqn --lun "python:$out/broken.py" \
  >"$out/broken.txt" 2>&1; then fail "broken script accepted"; fi
grep "SyntaxError" "$out/broken.txt" >/dev/null || fail "broken script message: $(cat "$out/broken.txt")"
echo "PASS"
