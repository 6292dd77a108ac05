#!/usr/bin/env bash
# Ceph label: an RBD image served by vstor, driven by real clients. Runs inside
# tests/ceph/ceph_cluster.py (CEPH_CONF names the throwaway cluster; images rbd/img 256M and
# rbd/img2 64M exist). nbdinfo/nbdcopy/qemu-io over NBD and libiscsi tools over iSCSI check the
# bytes, also against `rbd export` (the data is in the cluster); a 4 KiB unmap inside an object
# reads back as zeroes; whole-object trims show as holes; `ctl lun resize` grows the image and the
# capacity; `ctl lun add` takes an rbd spec; `ctl save` writes the rbd LUNs back and a restart
# from the saved file serves the same bytes. The miscompare offset of COMPARE AND WRITE and the
# capacity unit attention on a logged-in session are checked with tests/ceph/sense_probe.c.
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
probe=${3:?path to vstor_sense_probe}
: "${CEPH_CONF:?run me under tests/ceph/ceph_cluster.py}"
rm -rf "$out"; mkdir -p "$out"
server=
cleanup() { if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$out/vstor.log" || true; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sha() { sha256sum | cut -d' ' -f1; }

iqn=iqn.2026-12.org.vstor:rbd
port=$(free_port)
nport=$(free_port)
sock="$out/control.sock"
ctl() { "$vstor" ctl --control "$sock" "$@"; }
serve() {
  "$vstor" serve --control "$sock" --log-level info "$@" >>"$out/vstor.log" 2>&1 &
  server=$!
  for _ in $(seq 300); do  # opening the image connects to the cluster: allow a loaded machine 30 s
    if ctl status >/dev/null 2>&1; then return 0; fi
    kill -0 "$server" 2>/dev/null || fail "vstor exited"
    sleep 0.1
  done
  fail "vstor did not start"
}
stop() { kill "$server"; wait "$server" || true; server=; }
serve --listen 127.0.0.1:$port --nbd-listen 127.0.0.1:$nport --target $iqn --lun "rbd:rbd/img,conf=$CEPH_CONF,name=rbd"
nbd=nbd://127.0.0.1:$nport/rbd
iscsi=iscsi://127.0.0.1:$port/$iqn

echo "== nbdinfo: the image's size, thin, flush, FUA; a fresh image is one hole"
info=$(nbdinfo "$nbd")
grep -q 'export-size: 268435456' <<<"$info" || fail "size: $info"
for flag in can_trim can_flush can_fua can_zero; do grep -q "$flag: true" <<<"$info" || fail "$flag: $info"; done
map=$(nbdinfo --map "$nbd")
[ "$(wc -l <<<"$map")" -eq 1 ] && grep -q 'hole,zero' <<<"$map" || fail "fresh image map: $map"

echo "== nbdcopy: 64 MiB of random data there and back; rbd export has the same bytes"
head -c 64M /dev/urandom >"$out/random.img"
want=$(sha <"$out/random.img")
nbdcopy "$out/random.img" "$nbd"
[ "$(nbdcopy "$nbd" - | head -c 64M | sha)" = "$want" ] || fail "nbdcopy round trip"
[ "$(rbd export rbd/img - 2>/dev/null | head -c 64M | sha)" = "$want" ] || fail "rbd export differs from what NBD wrote"
qemu-img compare -f raw -F raw "$out/random.img" "$iscsi/0" || fail "iSCSI view differs from what NBD wrote"

echo "== a 4 KiB unmap inside an object reads back as zeroes, its neighbours keep their data"
io=$(qemu-io -f raw -c 'write -P 0xab 1M 64k' -c 'discard 1052672 4k' -c 'read -P 0 1052672 4k' \
  -c 'read -P 0xab 1M 4k' -c 'read -P 0xab 1056768 56k' "$nbd" 2>&1) || fail "qemu-io: $io"
echo "$io"
grep -q "Pattern verification failed" <<<"$io" && fail "unmapped 4 KiB block does not read zeroes"
[ "$(grep -c '^read ' <<<"$io")" -eq 3 ] || fail "qemu-io discard/read"
# The same through SCSI UNMAP (QEMU's libiscsi driver) on the next block.
io=$(qemu-io -f raw -c 'discard 1056768 4k' -c 'read -P 0 1056768 4k' -c 'read -P 0xab 1060864 4k' "$iscsi/0" 2>&1) ||
  fail "iSCSI UNMAP of 4 KiB: $io"

echo "== write zeroes, FUA write, flush"
io=$(qemu-io -f raw -c 'write -z 2M 1M' -c 'read -P 0 2M 1M' -c 'write -f -P 0xcd 3M 64k' -c 'read -P 0xcd 3M 64k' \
  -c flush "$nbd" 2>&1) || fail "zeroes/FUA/flush: $io"
[ "$(rbd export rbd/img - 2>/dev/null | head -c $((3 * 1048576 + 65536)) | tail -c 65536 | tr -d '\315' | wc -c)" = 0 ] ||
  fail "the FUA write is not in the cluster"

echo "== trimming whole objects gives holes in the allocation map (rbd_diff_iterate2)"
qemu-io -f raw -c 'discard 32M 32M' "$nbd" >/dev/null
map=$(nbdinfo --map "$nbd")
echo "$map"
grep -qE '^ +33554432 +234881024 +3 +hole,zero' <<<"$map" || fail "trimmed objects not a hole: $map"
grep -qE '^ +0 +33554432 +0 +data' <<<"$map" || fail "written objects not data: $map"

echo "== COMPARE AND WRITE (rbd_aio_compare_and_write): a miscompare names the first differing byte"
got=$("$probe" "$iscsi/0" miscompare 2048)
[ "$got" = "E 1d/00 info=300" ] || fail "miscompare sense: $got"

echo "== ctl lun resize grows the image; a logged-in initiator gets CAPACITY DATA HAS CHANGED"
mkfifo "$out/ua.in"
"$probe" "$iscsi/0" ua <"$out/ua.in" >"$out/ua.out" 2>&1 &
probe_pid=$!
exec 7>"$out/ua.in"
for _ in $(seq 300); do grep -q ready "$out/ua.out" && break; sleep 0.1; done
grep -q ready "$out/ua.out" || fail "probe did not log in: $(cat "$out/ua.out")"
ctl lun resize 0 512M
echo go >&7
exec 7>&-
wait $probe_pid || fail "probe: $(cat "$out/ua.out")"
grep -q '^6 2a/09' "$out/ua.out" || fail "no capacity unit attention: $(cat "$out/ua.out")"
iscsi-readcapacity16 "$iscsi/0" | grep "Total size:536870912" >/dev/null || fail "capacity after resize"
rbd info rbd/img 2>/dev/null | grep "size 512 MiB" >/dev/null || fail "image not resized in the cluster"
[ "$(nbdinfo --size "$nbd")" = 536870912 ] || fail "NBD size after resize"

echo "== ctl lun add takes an rbd spec"
ctl lun add "rbd:rbd/img2,conf=$CEPH_CONF,name=rbd2"
iscsi-readcapacity16 "$iscsi/1" | grep "Total size:67108864" >/dev/null || fail "added rbd LUN capacity"
if ctl lun add "rbd:rbd/no-such-image,conf=$CEPH_CONF" 2>"$out/err.txt"; then fail "a missing image was added"; fi
grep -q "cannot open the image" "$out/err.txt" || fail "missing image error: $(cat "$out/err.txt")"

echo "== ctl save writes the rbd LUNs back; a restart from it serves the same bytes"
ctl save "$out/saved.toml"
cat "$out/saved.toml"
grep -q "rbd:rbd/img,conf=$CEPH_CONF,name=rbd" "$out/saved.toml" || fail "saved LUN 0"
grep -q "rbd:rbd/img2,conf=$CEPH_CONF,name=rbd2" "$out/saved.toml" || fail "saved LUN 1"
before=$(nbdcopy "$nbd" - | sha)
stop
serve --config "$out/saved.toml"
[ "$(nbdinfo --size "$nbd")" = 536870912 ] || fail "size after restart"
[ "$(nbdcopy "$nbd" - | sha)" = "$before" ] || fail "bytes after restart"
echo "PASS"
