#!/usr/bin/env bash
# DBDisk through real clients: an nbdcopy round trip with a checksum, qemu-img over iSCSI reading
# the same bytes, the database in WAL mode, a second server on the same database refused, UNMAP
# (qemu-io discard) deleting rows, kill -9 after a flush losing nothing, and fio's verify over NBD.
set -euo pipefail
vstor=${1:?path to vstor binary}
plugin=${2:?path to dbdisk.so}
out=${3:?work directory}
rm -rf "$out"; mkdir -p "$out"
# Processes, failing with the log tail, ports: the interop tests' helpers.
source "$(dirname "$0")/../../tests/interop/lib.sh"
iqn=iqn.2026-12.org.vstor:dbdisk
db="$out/disk.db"
serve() {
  port=$(free_port); nport=$(free_port)
  "$vstor" serve --control off --listen 127.0.0.1:$port --nbd-listen 127.0.0.1:$nport --target $iqn \
    --lun "plugin:$plugin,file=$db,size=64M,name=db" --log-level info >>"$out/vstor.log" 2>&1 &
  server=$!
  pids+=($server)
  wait_port $port; wait_port $nport
  nbd=nbd://127.0.0.1:$nport/db
  url=iscsi://127.0.0.1:$port/$iqn/0
}
serve

echo "== nbdcopy round trip, iSCSI read-back, rows in the table"
nbdcopy_round_trip 16M "$nbd"
qemu-img convert -f raw -O raw "$url" "$out/iscsi.img"
[ "$(head -c 16M "$out/iscsi.img" | sha256sum | cut -d' ' -f1)" = "$want" ] || fail "iSCSI checksum"
cmp -n $((48 << 20)) -i $((16 << 20)) "$out/iscsi.img" /dev/zero || fail "unwritten blocks must read zeroes"

[ "$(sqlite3 "$db" "PRAGMA journal_mode")" = wal ] || fail "the database is not in WAL mode"

echo "== a second server on the same database is refused"
if "$vstor" serve --control off --listen 127.0.0.1:$(free_port) --target $iqn \
  --lun "plugin:$plugin,file=$db" >"$out/second.txt" 2>&1; then fail "second server accepted"; fi
grep -q "in use by another server" "$out/second.txt" || fail "second server message: $(cat "$out/second.txt")"

echo "== UNMAP deletes rows; FLUSH commits; kill -9 after the flush loses nothing"
qemu-io -f raw -c "discard 0 1M" -c "flush" "$nbd" >/dev/null
qemu-io -f raw -c "read -P 0 0 1M" "$nbd" | grep "read 1048576" >/dev/null || fail "discarded range must read zeroes"
kill -9 "$server"; wait "$server" 2>/dev/null || true
rows=$(sqlite3 "$db" "SELECT count(*) FROM blocks")
[ "$rows" -eq $(((16 << 20) / 4096 - 256)) ] || fail "rows after discard + kill -9: $rows"
serve
nbdcopy "$nbd" "$out/after.img"
cmp -n $((1 << 20)) "$out/after.img" /dev/zero || fail "discarded MiB after restart"
cmp -n $((15 << 20)) -i $((1 << 20)) "$out/after.img" "$out/random.img" || fail "data after kill -9"

echo "== fio: random 4 KiB writes with crc32c verify over NBD, then the same verify after kill -9"
fio_run() {  # extra fio options
  fio --name=dbdisk --ioengine=nbd --uri="$nbd" --rw=randwrite --bs=4k --size=8M --offset=32M --iodepth=8 \
    --verify=crc32c --verify_fatal=1 --randseed=42 "$@" --output="$out/fio.txt" || { cat "$out/fio.txt"; fail "fio $*"; }
}
fio_run --do_verify=1
qemu-io -f raw -c flush "$nbd" >/dev/null
kill -9 "$server"; wait "$server" 2>/dev/null || true
serve
fio_run --verify_only
echo PASS
