#!/usr/bin/env bash
# Ceph label: an image resized elsewhere reaches every gateway (docs/ceph.md "Resizing a shared
# image"). Runs inside tests/ceph/ceph_cluster.py (CEPH_CONF names the throwaway cluster; rbd/rs
# exists, 16 MiB). Two `vstor serve` export rbd/rs; tests/ceph/alua_probe.c (libiscsi) keeps a
# session open on gateway B while `vstor ctl lun resize` grows the LUN through gateway A: B's session
# gets CAPACITY DATA HAS CHANGED (2A/09) and READ CAPACITY(16) through B shows the new size within
# 2 s, a raw session on B (tests/ceph/async_probe.py) gets the iSCSI Async Message for it, and a
# block written through B at the new last LBA reads back byte for byte through A. Then an
# operator's `rbd resize` grows the image under both gateways (both sessions see it within 2 s),
# and a shrink makes both refuse the blocks past the new end (LBA OUT OF RANGE 05/21/00). Last,
# tests/ceph/shrink_probe.cpp (rbd/sw, 8 MiB) gives a backend the I/O a gateway's engine still
# lets through right after another client shrank the image: each request that crosses or starts
# past the new end fails with LBA OUT OF RANGE, none is acknowledged clipped.
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
probe=${3:?path to vstor_alua_probe}
shrink_probe=${4:?path to vstor_shrink_probe}
: "${CEPH_CONF:?run me under tests/ceph/ceph_cluster.py}"
rm -rf "$out"; mkdir -p "$out"
pid_a= pid_b= bg= bg2=
cleanup() {
  for p in $bg $bg2 $pid_a $pid_b; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for g in a b; do echo "-- gateway $g"; tail -15 "$out/$g.log" || true; done; exit 1; }
source "$(dirname "$0")/lib.sh"

iqn=iqn.2026-12.org.vstor:rs
two_gateways rbd/rs
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# watch NAME URL BLOCKS: a session on URL awaits BLOCKS blocks (10 s) in the background, output in
# $out/NAME.cap; returns once it is logged in ($! is its PID).
watch() {
  "$probe" await-capacity "$2" "$3" 10 >"$out/$1.cap" 2>&1 &
  for _ in $(seq 100); do grep -q ready "$out/$1.cap" && return 0; sleep 0.1; done
  fail "await-capacity on $1 did not log in: $(cat "$out/$1.cap")"
}
# seen NAME BLOCKS: the session of watch NAME saw BLOCKS blocks and 2A/09.
seen() {
  local line; line=$(tail -1 "$out/$1.cap"); echo "$1: $line"
  grep -q "^blocks=$2 uas=.*2a/09" <<<"$line" || fail "$1's session: $line"
}
# both_see BLOCKS COMMAND...: sessions on A and B await BLOCKS blocks while COMMAND runs; both saw
# them and 2A/09 (t0: when COMMAND started).
both_see() {
  local blocks=$1; shift
  watch a "$url_a" "$blocks"; bg=$!
  watch b "$url_b" "$blocks"; bg2=$!
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1 || fail "$*"
  wait "$bg" || fail "A's capacity: $(cat "$out/a.cap")"; bg=
  wait "$bg2" || fail "B's capacity: $(cat "$out/b.cap")"; bg2=
  seen a "$blocks"; seen b "$blocks"
}

"$probe" write "$url_a" 0 || fail "write through A"  # A holds the exclusive lock

echo "== ctl lun resize through A: B's sessions get 2A/09, the new size and an Async Message"
blocks=$((24 * 2048))
watch b "$url_b" "$blocks"; bg=$!
port_b=${url_b#iscsi://127.0.0.1:}; port_b=${port_b%%/*}
python3 "$(dirname "$0")/async_probe.py" 127.0.0.1 "$port_b" "$iqn" 10 >"$out/b.async" 2>&1 & bg2=$!
for _ in $(seq 100); do
  grep -q ready "$out/b.async" && break
  kill -0 "$bg2" 2>/dev/null || fail "B's raw session: $(cat "$out/b.async")"
  sleep 0.1
done
t0=$(date +%s%N)
"$vstor" ctl --control "$out/a.sock" lun resize 0 24M >/dev/null || fail "ctl lun resize on A"
wait "$bg" || fail "B's capacity: $(cat "$out/b.cap")"; bg=
ctl_ms=$(ms_since "$t0")
seen b "$blocks"
wait "$bg2" || fail "B's raw session: $(cat "$out/b.async")"; bg2=
echo "b: $(tail -1 "$out/b.async")"
grep -q '^async lun=0 event=0 sense=6/2a/09 statsn=ok' "$out/b.async" || fail "B's Async Message: $(cat "$out/b.async")"
# From A's log line of the resize to B's of the new capacity (spdlog's millisecond clock).
log_ms=$(python3 - "$out/a.log" "$out/b.log" <<'PY'
import datetime, re, sys
def at(path, pattern):
    for line in open(path):
        if re.search(pattern, line):
            return datetime.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S.%f")
a = at(sys.argv[1], "control: resized LUN 0")
b = at(sys.argv[2], "capacity now 49152 blocks")
print(round((b - a).total_seconds() * 1000) if a and b else "?")
PY
)
echo "B saw A's resize after ${ctl_ms} ms (READ CAPACITY every 100 ms; ${log_ms} ms from A's log to B's)"
[ "$ctl_ms" -le 2000 ] || fail "B took ${ctl_ms} ms to see A's resize"
grep -q 'the image was resized to 25165824 bytes (from 16777216) (seen in its header)' "$out/b.log" ||
  fail "B did not log the new size"
grep -q 'capacity now 49152 blocks (was 32768), resized elsewhere' "$out/b.log" ||
  fail "B did not publish the resize as a LUN event"
"$probe" write "$url_b" $((blocks - 1)) || fail "write through B at the new last LBA"
"$probe" check "$url_a" $((blocks - 1)) || fail "A reads back other bytes than B wrote at the new last LBA"

echo "== rbd resize by an operator: both gateways' sessions see it"
blocks=$((32 * 2048))
both_see "$blocks" rbd resize --size 32M rbd/rs
rbd_ms=$(ms_since "$t0")
echo "both saw rbd resize after ${rbd_ms} ms (rbd's own run included)"
[ "$rbd_ms" -le 4000 ] || fail "the gateways took ${rbd_ms} ms to see rbd resize"
"$probe" write "$url_a" $((blocks - 1)) || fail "write through A at the new last LBA"
"$probe" check "$url_b" $((blocks - 1)) || fail "B reads back other bytes than A wrote at the new last LBA"

echo "== a shrink: both refuse what is past the new end (LBA OUT OF RANGE)"
blocks=$((8 * 2048))
both_see "$blocks" rbd resize --size 8M --allow-shrink rbd/rs
"$probe" check "$url_b" "$blocks" 2>"$out/past.err" && fail "B read past the end"
grep -q 'sense=5/21/00' "$out/past.err" || fail "B's read past the end: $(cat "$out/past.err")"
"$probe" write "$url_a" "$blocks" 2>"$out/past.err" && fail "A wrote past the end"
grep -q 'sense=5/21/00' "$out/past.err" || fail "A's write past the end: $(cat "$out/past.err")"
"$probe" write "$url_b" $((blocks - 1)) || fail "write through B at the last LBA"
"$probe" check "$url_a" $((blocks - 1)) || fail "A reads back other bytes than B wrote at the last LBA"
echo "== the window before a gateway sees a shrink made elsewhere, at its backend"
"$shrink_probe" rbd/sw || fail "a request past the new end was not refused (shrink_probe)"
echo "PASS rbd_resize (ctl lun resize on A seen by B's session after ${ctl_ms} ms, B's log ${log_ms} ms after A's;" \
  "rbd resize seen by both after ${rbd_ms} ms)"
