#!/usr/bin/env bash
# Ceph label: two gateways, one LUN (docs/ceph.md "Two gateways"). Runs inside
# tests/ceph/ceph_cluster.py (CEPH_CONF names the throwaway cluster; rbd/ha exists). Two `vstor
# serve` export rbd/ha with their own port group and relative port; tests/ceph/alua_probe.c (a
# libiscsi client) checks that both present the same logical unit (NAA designator, serial), each
# through its own port, that the gateway holding the exclusive lock is active/optimized and the
# other active/non-optimized, that the states follow the lock when a write moves it (with the
# ASYMMETRIC ACCESS STATE CHANGED unit attention), and that when the lock holder is killed with
# SIGKILL while a client writes with FUA, the survivor blocklists it, breaks its lock and takes
# over within seconds, and every acknowledged write reads back. Each gateway's REPORT TARGET PORT
# GROUPS lists both groups (the registry next to the image): the holder's optimized, the other
# non-optimized, the dead gateway's unavailable, a restarted one's back, a cleanly stopped one's gone.
# A dead gateway's group is forgotten by the lock holder once its entry is stale long enough
# (forget_ms=, 20 s here). A live gateway is blocklisted: its ports turn
# transitioning (NOT READY 04/0A) and it comes back by itself as a new client; cached writes its
# old client acknowledged fail the next SYNCHRONIZE CACHE once. Blocklisted again while the image
# grows and the monitor does not answer (SIGSTOP): through it, REPORT TARGET PORT GROUPS still
# lists the other group as last seen, and once back it has the new size (2A/09). An idle
# gateway blocklisted notices without any I/O and comes back. Then the OSD stops answering:
# removing the LUN and stopping the gateway do not hang on a lock lookup, and `ctl status` answers
# at once while the removal waits for the cluster; a gateway with three LUNs stops within one
# teardown bound (10 s), not three, after giving up on the final flush of a write the stopped
# OSD never got (--final-flush-timeout 2: exit status 1, that LUN named).
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
probe=${3:?path to vstor_alua_probe}
: "${CEPH_CONF:?run me under tests/ceph/ceph_cluster.py}"
rm -rf "$out"; mkdir -p "$out"
pid_a= pid_b= pid_c= bg= stopped=
cleanup() {
  for p in $stopped; do kill -CONT "$p" 2>/dev/null || true; done  # the fixture's mon or OSD
  for p in $bg $pid_a $pid_b $pid_c; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for g in a b c; do echo "-- gateway $g"; tail -15 "$out/$g.log" 2>/dev/null || true; done; exit 1; }
source "$(dirname "$0")/lib.sh"
# Under ASan (make asan), no leak report: the last phase stops the OSD, and a gateway that cannot
# reach its cluster leaves what it had in flight to the cluster on purpose (docs/ceph.md), which
# LeakSanitizer would count at exit. Memory errors still fail the test.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

iqn=iqn.2026-12.org.vstor:ha
# B takes a dead holder's lock after 2 s of stalled writes, and forgets a dead gateway's group
# after 20 s, not 60.
two_gateways rbd/ha stall_ms=2000,forget_ms=20000
"$vstor" ctl --control "$out/b.sock" save "$out/b.toml" >/dev/null || fail "ctl save on B"
grep -q 'stall_ms=2000,forget_ms=20000' "$out/b.toml" || fail "ctl save lost B's options: $(cat "$out/b.toml")"

echo "== one logical unit, two ports: same NAA and serial, own relative port and group, TPGS 01b"
ia=$("$probe" ident "$url_a") || fail "ident A"
ib=$("$probe" ident "$url_b") || fail "ident B"
echo "A: $ia"; echo "B: $ib"
[ "${ia%% relport*}" = "${ib%% relport*}" ] || fail "the gateways present different units"
grep -q 'naa=5' <<<"$ia" || fail "no NAA designator: $ia"
grep -q 'relport=1 tpg=1 tpgs=1' <<<"$ia" || fail "A's port: $ia"
grep -q 'relport=2 tpg=2 tpgs=1' <<<"$ib" || fail "B's port: $ib"
grep -q "serial=$(image_id rbd/ha) " <<<"$ia" || fail "the serial is not the image id: $ia"

echo "== the lock holder is active/optimized, the other gateway active/non-optimized"
"$probe" write "$url_a" 0 || fail "write through A"
ra=$("$probe" rtpg "$url_a"); echo "A: $ra"
grep -q 'tpg=1 state=AO .*ports=1 fmt=1' <<<"$ra" || fail "A after its write: $ra"
for _ in $(seq 30); do rb=$("$probe" rtpg "$url_b"); grep -q '^tpg=2 state=AN' <<<"$rb" && break; sleep 0.2; done
echo "B: $rb"
grep -q '^tpg=2 state=AN status=2 ports=2' <<<"$rb" || fail "B while A holds the lock: $rb"

echo "== each gateway lists the other's group too: the holder's optimized, the other non-optimized"
# rtpg_wait URL PATTERN: until REPORT TARGET PORT GROUPS through URL matches (5 s); sets $r.
rtpg_wait() {
  for _ in $(seq 50); do r=$("$probe" rtpg "$1"); grep -q -- "$2" <<<"$r" && return 0; sleep 0.1; done
  return 1
}
rtpg_wait "$url_a" '^tpg=1 state=AO .* | tpg=2 state=AN status=0 ports=2$' || fail "A does not list B's group: $r"
echo "A: $r"
rtpg_wait "$url_b" '^tpg=2 state=AN .* | tpg=1 state=AO status=0 ports=1$' || fail "B does not list A's group: $r"
echo "B: $r"
rados -p rbd getomapval "vstor_alua.$(image_id rbd/ha)" tpg.00002 "$out/entry_b" >/dev/null
grep -q '^vstor-tpg 1 group=2 state=an seq=[1-9][0-9]* ports=2$' "$out/entry_b" ||
  fail "B's entry in the registry: $(cat "$out/entry_b")"
echo "B's registry entry: $(cat "$out/entry_b")"

echo "== a write through B moves the lock: the states swap, A's session gets 2A/06"
"$probe" await "$url_a" AN 20 >"$out/await.out" 2>&1 & bg=$!
for _ in $(seq 100); do grep -q ready "$out/await.out" && break; sleep 0.1; done
grep -q ready "$out/await.out" || fail "await did not log in: $(cat "$out/await.out")"
"$probe" write "$url_b" 1 || fail "write through B"
wait "$bg" || true; bg=
line=$(tail -1 "$out/await.out"); echo "A: $line"
[ "$line" = "state=AN ua=2a/06" ] || fail "A after B's write: $line"
rtpg_wait "$url_b" '^tpg=2 state=AO .* | tpg=1 state=AN status=0 ports=1$' || fail "B after its write: $r"
echo "B: $r"
rtpg_wait "$url_a" '^tpg=1 state=AN .* | tpg=2 state=AO status=0 ports=2$' || fail "A after B's write: $r"
echo "A: $r"

echo "== kill -9 the lock holder while writing: B blocklists it, breaks the lock, no acknowledged write lost"
"$probe" writer "$url_a" "$url_b" 1024 60 >"$out/writer.out" 2>&1 & bg=$!
sleep 3
grep -q 'exclusive lock' "$out/b.log" && fail "B broke a lock before anyone died"
kill -9 "$pid_a"; wait "$pid_a" 2>/dev/null || true; pid_a=
wait "$bg" || fail "writer: $(cat "$out/writer.out")"; bg=
w=$(cat "$out/writer.out"); echo "writer: $w"
ms=$(sed -n 's/.*failover_ms=\([0-9]*\).*/\1/p' <<<"$w")
[ -n "$ms" ] && [ "$ms" -lt 20000 ] || fail "failover took ${ms:-?} ms"
grep -q 'ua=2a/06' <<<"$w" || fail "the writer saw no ASYMMETRIC ACCESS STATE CHANGED: $w"
grep -q 'no I/O progress for 2000 ms .*blocklisting it and breaking the lock' "$out/b.log" ||
  fail "B did not break the lock after stall_ms: $(grep 'progress' "$out/b.log")"
ceph osd blocklist ls 2>/dev/null | grep -q '127.0.0.1' || fail "no client blocklisted"
for _ in $(seq 30); do rb=$("$probe" rtpg "$url_b"); grep -q '^tpg=2 state=AO' <<<"$rb" && break; sleep 0.2; done
echo "B: $rb"
grep -q '^tpg=2 state=AO' <<<"$rb" || fail "B after the takeover: $rb"

echo "== the dead gateway's group: unavailable once its heartbeat stopped, never optimized"
for _ in $(seq 100); do r=$("$probe" rtpg "$url_b"); grep -q '| tpg=1 state=U ' <<<"$r" && break; sleep 0.1; done
echo "B: $r"
grep -q '^tpg=2 state=AO .* | tpg=1 state=U status=0 ports=1$' <<<"$r" || fail "B still reports dead A as: $r"

echo "== the dead gateway's group is forgotten once stale for forget_ms"
for _ in $(seq 150); do r=$("$probe" rtpg "$url_b"); grep -q '|' <<<"$r" || break; sleep 0.1; done
echo "B: $r"
grep -q '^tpg=2 state=AO [^|]*$' <<<"$r" || fail "B still lists dead A after 20 s: $r"
keys=$(rados -p rbd listomapkeys "vstor_alua.$(image_id rbd/ha)")
[ "$keys" = "tpg.00002" ] || fail "the registry after A was forgotten: $keys"
grep -q 'forgetting target port group 1: .* has not moved for 2[0-9] s' "$out/b.log" || fail "B did not log forgetting A"

echo "== A restarted: its entry is fresh again (non-optimized); a clean stop removes it"
port_a=${url_a#iscsi://127.0.0.1:}; port_a=${port_a%%/*}
gateway a "$port_a" 1 rbd/ha; pid_a=$!
wait_up "$pid_a" a
rtpg_wait "$url_b" '^tpg=2 state=AO .* | tpg=1 state=AN status=0 ports=' || fail "B after A came back: $r"
echo "B: $r"
kill -TERM "$pid_a"; wait "$pid_a" 2>/dev/null || true; pid_a=
rtpg_wait "$url_b" '^tpg=2 state=AO [^|]*$' || fail "B still lists A after A stopped cleanly: $r"
echo "B: $r"
keys=$(rados -p rbd listomapkeys "vstor_alua.$(image_id rbd/ha)")
[ "$keys" = "tpg.00002" ] || fail "the registry after A stopped: $keys"
echo "== a live gateway blocklisted: transitioning (NOT READY 04/0A), then back by itself as a new client"
gateway a "$port_a" 1 rbd/ha; pid_a=$!
wait_up "$pid_a" a
"$probe" write "$url_b" 2 || fail "write through B"
addr=$(rbd lock ls rbd/ha --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
echo "blocklisting B's client $addr"
ceph osd blocklist add "$addr" >/dev/null 2>&1 || fail "cannot blocklist $addr"
t0=$(date +%s%N)
"$probe" write "$url_b" 3 2>"$out/fenced.err" && fail "a blocklisted gateway acknowledged a write"
grep -q 'sense=2/04/0a' "$out/fenced.err" || fail "B's write got: $(cat "$out/fenced.err")"
echo "B's write: $(tail -1 "$out/fenced.err")"
# Back within 15 s: active/non-optimized (its old client still holds the lock), its line fresh.
for _ in $(seq 150); do r=$("$probe" rtpg "$url_b" 2>/dev/null); grep -q '^tpg=2 state=AN ' <<<"$r" && break; sleep 0.1; done
rec_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "B: $r (back after ${rec_ms} ms)"
grep -q '^tpg=2 state=AN status=2 ' <<<"$r" || fail "B did not come back within 15 s: $r"
grep -q 'this gateway was blocklisted' "$out/b.log" || fail "B did not log its blocklisting"
grep -q 'reconnected to the cluster as a new client' "$out/b.log" || fail "B did not log its reconnection"
"$probe" write "$url_a" 3 || fail "write through A after B was blocklisted"
rtpg_wait "$url_a" '^tpg=1 state=AO .* | tpg=2 state=AN ' || fail "A after B came back: $r"
echo "A: $r"
"$probe" check "$url_b" 3 || fail "B reads back other bytes than A wrote"
"$probe" write "$url_b" 4 || fail "write through B after it came back"
"$probe" check "$url_a" 4 || fail "A reads back other bytes than B wrote after coming back"
rtpg_wait "$url_b" '^tpg=2 state=AO .* | tpg=1 state=AN ' || fail "B after its write: $r"
echo "B: $r"
echo "== cached writes lost with a blocklisted client: the next SYNCHRONIZE CACHE fails once"
"$probe" sync "$url_b" || fail "SYNCHRONIZE CACHE through B"  # nothing cached before the write below
"$probe" write-cached "$url_b" 5 || fail "cached write through B"
addr=$(rbd lock ls rbd/ha --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
ceph osd blocklist add "$addr" >/dev/null 2>&1 || fail "cannot blocklist $addr"
"$probe" sync "$url_b" 2>"$out/sync.err" && fail "B vouched for cached writes its old client lost"
grep -q 'sense=3/0c/00' "$out/sync.err" || fail "B's SYNCHRONIZE CACHE got: $(cat "$out/sync.err")"
echo "B's SYNCHRONIZE CACHE: $(tail -1 "$out/sync.err")"
"$probe" sync "$url_b" || fail "the SYNCHRONIZE CACHE after the failed one"

echo "== an idle gateway blocklisted: it notices without any I/O (its registry heartbeat is refused) and comes back"
"$probe" write "$url_b" 11 || fail "write through B"  # B holds the lock: its client's address
addr=$(rbd lock ls rbd/ha --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
back() { grep -c 'reconnected to the cluster as a new client' "$out/b.log" || true; }
n0=$(back)
ceph osd blocklist add "$addr" >/dev/null 2>&1 || fail "cannot blocklist $addr"
t0=$(date +%s%N)
for _ in $(seq 150); do [ "$(back)" -gt "$n0" ] && break; sleep 0.1; done  # no command reaches B's LUN
idle_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$(back)" -gt "$n0" ] || fail "idle B did not notice its blocklisting within 15 s"
grep -q 'the cluster refused \(the port-group registry\|a call\): this client is blocklisted' "$out/b.log" ||
  fail "B does not say what noticed its blocklisting"
echo "idle B reconnected ${idle_ms} ms after the blocklisting: $(grep 'refused .*blocklisted' "$out/b.log" | tail -1 | cut -c27-)"
rtpg_wait "$url_b" '^tpg=2 state=A[ON] .* | tpg=1 state=A[ON] ' || fail "B after coming back idle: $r"
echo "B: $r"
"$probe" write "$url_b" 12 || fail "write through B after it came back idle"
"$probe" check "$url_a" 12 || fail "A reads back other bytes than B wrote after coming back idle"

echo "== B fenced while the image grows and the monitor does not answer: A's group still listed, then the new size"
"$probe" write "$url_b" 6 || fail "write through B"  # B holds the lock: its client's address
addr=$(rbd lock ls rbd/ha --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
"$probe" write "$url_a" 7 || fail "write through A"  # A takes the lock
rtpg_wait "$url_b" '^tpg=2 state=AN .* | tpg=1 state=AO ' || fail "B before its fencing: $r"
blocks=$((80 * 2048))
"$probe" await-capacity "$url_b" "$blocks" 60 >"$out/capacity.out" 2>&1 & bg=$!
for _ in $(seq 100); do grep -q ready "$out/capacity.out" && break; sleep 0.1; done
# fence_stopped ADDR: blocklists ADDR and leaves the monitor stopped, the OSD running with the
# new map: the fenced gateway notices at once (without I/O), but its reconnection waits for the
# monitor. (The OSD is stopped meanwhile, so that it applies the map only once the monitor is:
# the monitor sends a new map to its subscribers before it answers the command.)
fence_stopped() {
  kill -STOP "$CEPH_OSD_PID"; stopped=$CEPH_OSD_PID
  ceph osd blocklist add "$1" >/dev/null 2>&1 || fail "cannot blocklist $1"
  kill -STOP "$CEPH_MON_PID"; stopped="$CEPH_OSD_PID $CEPH_MON_PID"
  kill -CONT "$CEPH_OSD_PID"; stopped=$CEPH_MON_PID
}
fence_stopped "$addr"
t0=$(date +%s%N)
# A's client grows the image (it needs only the OSD); B's old client cannot hear of it.
timeout 20 "$vstor" ctl --control "$out/a.sock" lun resize 0 80M >/dev/null || fail "ctl lun resize on A"
"$probe" write "$url_b" 8 2>"$out/fenced2.err" && fail "a blocklisted gateway acknowledged a write"
grep -q 'sense=2/04/0a' "$out/fenced2.err" || fail "B's write got: $(cat "$out/fenced2.err")"
sleep 1
r=$("$probe" rtpg "$url_b")
echo "B reconnecting: $r"
kill -CONT "$CEPH_MON_PID"; stopped=
grep -q '^tpg=2 state=T status=2 .* | tpg=1 state=A[ON] status=0 ports=1$' <<<"$r" ||
  fail "B while it reconnects lists: $r"
wait "$bg" || fail "B's capacity: $(cat "$out/capacity.out")"; bg=
rec2_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
line=$(tail -1 "$out/capacity.out"); echo "B: $line (back after ${rec2_ms} ms, monitor stopped for about 1 s)"
grep -q "^blocks=$blocks uas=.*2a/09" <<<"$line" || fail "B's session after the resize: $line"
grep -q 'the image was resized to 83886080 bytes' "$out/b.log" || fail "B did not log the new size"

# remove_then_stop G PID: `ctl lun remove 0` on gateway G, with a `ctl status` 1 s into it (which
# must answer at once, without the LUN, while the removal still waits for the cluster), then
# SIGTERM to PID (30 s at most); sets rm_ms, status_ms and stop_ms (how long each took) and
# stop_rc (its exit status).
remove_then_stop() {
  local t0 s0 rm_pid pending
  t0=$(date +%s%N)
  timeout 60 "$vstor" ctl --control "$out/$1.sock" lun remove 0 >/dev/null & rm_pid=$!
  sleep 1
  s0=$(date +%s%N)
  timeout 20 "$vstor" ctl --control "$out/$1.sock" --json status >"$out/$1.status.json" ||
    fail "ctl status on $1 during lun remove"
  status_ms=$(( ($(date +%s%N) - s0) / 1000000 ))
  pending=no; kill -0 "$rm_pid" 2>/dev/null && pending=yes
  wait "$rm_pid" || fail "lun remove on $1"
  rm_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "$1: ctl status during lun remove: ${status_ms} ms (removal still pending: $pending)"
  [ "$pending" = yes ] || fail "lun remove on $1 ended within 1 s: the status probe measured nothing"
  [ "$status_ms" -lt 1000 ] || fail "ctl status waited ${status_ms} ms for lun remove on $1"
  python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["targets"][0]; sys.exit(len(t["luns"]))' \
    "$out/$1.status.json" || fail "status during the removal still lists the LUN: $(cat "$out/$1.status.json")"
  t0=$(date +%s%N)
  kill -TERM "$2"
  for _ in $(seq 300); do kill -0 "$2" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$2" 2>/dev/null && fail "$1 did not stop within 30 s of SIGTERM with the cluster stopped"
  stop_rc=0; wait "$2" || stop_rc=$?
  stop_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
}

echo "== the OSD stops answering: removing B's LUN and stopping B do not hang on a lock lookup"
kill -STOP "$CEPH_OSD_PID"; stopped=$CEPH_OSD_PID
sleep 2  # B does not hold the lock: its lookup of the holder (every 0.5 s) is stuck now
remove_then_stop b "$pid_b"; pid_b=
kill -CONT "$CEPH_OSD_PID"; stopped=
echo "OSD stopped: lun remove took ${rm_ms} ms, SIGTERM to exit ${stop_ms} ms (status $stop_rc)"
grep -q 'a lock lookup has not returned after 2000 ms: its thread is left' "$out/b.log" ||
  fail "B did not leave its stuck lookup: $(grep -i 'lookup' "$out/b.log")"
[ "$stop_rc" -eq 0 ] || fail "B exited with status $stop_rc"
[ "$rm_ms" -lt 12000 ] || fail "lun remove took ${rm_ms} ms (bound: 10 s for the cluster, then left)"
rm1_ms=$rm_ms stop1_ms=$stop_ms st1_ms=$status_ms

echo "== A fenced and reconnecting while the monitor and the OSD do not answer: lun remove and SIGTERM do not wait"
"$probe" write "$url_a" 9 || fail "write through A"  # A holds the lock: its client's address
addr=$(rbd lock ls rbd/ha --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["address"])')
fence_stopped "$addr"
"$probe" write "$url_a" 10 2>"$out/fenced3.err" && fail "a blocklisted gateway acknowledged a write"
grep -q 'sense=2/04/0a' "$out/fenced3.err" || fail "A's write got: $(cat "$out/fenced3.err")"
kill -STOP "$CEPH_OSD_PID"; stopped="$CEPH_MON_PID $CEPH_OSD_PID"
sleep 1  # A's reconnection waits for the monitor now (client_mount_timeout: 30 s)
remove_then_stop a "$pid_a"; pid_a=
kill -CONT "$CEPH_OSD_PID" "$CEPH_MON_PID"; stopped=
echo "monitor and OSD stopped while A reconnects: lun remove ${rm_ms} ms, SIGTERM to exit ${stop_ms} ms" \
  "(status $stop_rc)"
grep -q 'stopping while reconnecting: the connection attempt .* is left to finish by itself' "$out/a.log" ||
  fail "A did not leave its reconnection: $(grep -i 'reconnect' "$out/a.log")"
grep -q 'vstor_pr.*left to a thread of its own' "$out/a.log" &&
  echo "A's reservation store gave up a cluster call in flight: $(grep 'vstor_pr.*left' "$out/a.log" | head -1)"
[ "$stop_rc" -eq 0 ] || fail "A exited with status $stop_rc"
[ "$rm_ms" -lt 12000 ] || fail "lun remove on A took ${rm_ms} ms (bound: 10 s for the cluster, then left)"
rm2_ms=$rm_ms stop2_ms=$stop_ms st2_ms=$status_ms

echo "== three LUNs whose cluster stops answering: SIGTERM tears them down together, not one after another;" \
  "the final flush of a write the OSD never got is given up on after --final-flush-timeout"
port_c=$(free_port)
"$vstor" serve --control "$out/c.sock" --listen "127.0.0.1:$port_c" --target "$iqn" --port-group 3 --relative-port 3 \
  --lun "rbd:rbd/ha,conf=$CEPH_CONF" --lun "rbd:rbd/ha2,conf=$CEPH_CONF" --lun "rbd:rbd/ha3,conf=$CEPH_CONF" \
  --final-flush-timeout 2 >>"$out/c.log" 2>&1 & pid_c=$!
wait_up "$pid_c" c
for lun in 0 1 2; do  # each LUN's client takes its image's exclusive lock: closing it must tell the OSD
  "$probe" write "iscsi://127.0.0.1:$port_c/$iqn/$lun" 13 || fail "write through C's LUN $lun"
done
kill -STOP "$CEPH_OSD_PID"; stopped=$CEPH_OSD_PID
# Acknowledged from librbd's cache (it holds the lock already) and sent to an OSD that does not
# answer: the final flush of LUN 2 waits for it. (Before: SIGTERM waited until the OSD came back.)
timeout 20 "$probe" write-cached "iscsi://127.0.0.1:$port_c/$iqn/2" 14 || fail "cached write through C's LUN 2"
sleep 1
t0=$(date +%s%N)
kill -TERM "$pid_c"
for _ in $(seq 400); do kill -0 "$pid_c" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid_c" 2>/dev/null && fail "C did not stop within 40 s of SIGTERM with the OSD stopped"
stop_rc=0; wait "$pid_c" || stop_rc=$?; pid_c=
stop3_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -CONT "$CEPH_OSD_PID"; stopped=
echo "OSD stopped, three LUNs: SIGTERM to exit ${stop3_ms} ms (status $stop_rc)"
[ "$(grep -c 'closing the connection takes more than' "$out/c.log")" -eq 3 ] ||
  fail "C's LUNs did not each wait for the cluster: $(grep -c 'closing the connection' "$out/c.log")"
[ "$stop_rc" -eq 1 ] || fail "C exited with status $stop_rc (expected 1: a final flush was given up on)"
grep -q 'LUN 2: the final flush has not finished after 2' "$out/c.log" ||
  fail "C did not name the LUN whose flush it gave up on: $(grep -i 'final flush' "$out/c.log")"
[ "$(grep -c 'the final flush' "$out/c.log")" -eq 1 ] || fail "C's other LUNs' flushes: $(grep 'final flush' "$out/c.log")"
[ "$stop3_ms" -lt 18000 ] || fail "C took ${stop3_ms} ms to stop (bound: 2 s of flush, then one 10 s teardown)"
echo "PASS rbd_gateways (failover ${ms} ms, blocklisted gateway back after ${rec_ms} ms, idle ${idle_ms} ms; with" \
  "its monitor stopped ${rec2_ms} ms; OSD stopped: lun remove ${rm1_ms} ms (status meanwhile ${st1_ms} ms)," \
  "exit ${stop1_ms} ms; A reconnecting with the cluster stopped: lun remove ${rm2_ms} ms (status ${st2_ms} ms)," \
  "exit ${stop2_ms} ms; three LUNs, OSD stopped: exit ${stop3_ms} ms)"
