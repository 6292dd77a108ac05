#!/usr/bin/env bash
# Ceph label: persistent reservations shared by two gateways (docs/ceph.md "Persistent
# reservations"). Runs inside tests/ceph/ceph_cluster.py (CEPH_CONF names the throwaway cluster;
# rbd/pr exists). Two `vstor serve` export rbd/pr with their own port group and relative port:
# tests/ceph/pr_probe.c (two libiscsi hosts, one per gateway) checks that a reservation taken
# through B conflicts through A, READ FULL STATUS names each I_T nexus with its gateway's
# relative port, and a PREEMPT, RELEASE or CLEAR through A gives B's nexus its unit attention and
# conflicts at once; then libiscsi's iscsi-test-cu runs its Prin*/Prout* tests with the second
# session (initiator 2) on gateway B: every one must pass, none be skipped. Both gateways' state
# is the RADOS object vstor_pr.<image id>, checked to exist.
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
probe=${3:?path to vstor_pr_probe}
: "${CEPH_CONF:?run me under tests/ceph/ceph_cluster.py}"
rm -rf "$out"; mkdir -p "$out"
pid_a= pid_b=
cleanup() {
  for p in $pid_a $pid_b; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; for g in a b; do echo "-- gateway $g"; tail -15 "$out/$g.log" || true; done; exit 1; }
source "$(dirname "$0")/lib.sh"

# Without the exclusive lock the gateways' ALUA states stay put: otherwise each write through the
# other gateway moves the lock and gives every session ASYMMETRIC ACCESS STATE CHANGED (2Ah/06h),
# which a multipath initiator takes in its stride but libiscsi's tests count as a failure
# (ceph_rbd_gateways covers ALUA with the lock).
rbd feature disable rbd/pr fast-diff object-map exclusive-lock
iqn=iqn.2026-12.org.vstor:pr
two_gateways rbd/pr

id=$(image_id rbd/pr)
rados -p rbd stat "vstor_pr.$id" >/dev/null || fail "no object vstor_pr.$id in the pool"

echo "== two hosts, one per gateway: reserve, preempt, release, clear"
start=$(date +%s%N)
"$probe" "$url_a" "$url_b" | tee "$out/probe.out" || fail "pr_probe"
echo "pr_probe took $(( ($(date +%s%N) - start) / 1000000 )) ms"

echo "== iscsi-test-cu Prin*/Prout*, the second session on gateway B"
for s in PrinReadKeys PrinServiceactionRange PrinReportCapabilities ProutRegister ProutReserve ProutClear \
         ProutPreempt; do
  timeout 120 iscsi-test-cu --dataloss --verbose -t "ALL.$s" "$url_a" "$url_b" >>"$out/cu.log" 2>&1 || true
done
# Given two URLs, iscsi-test-cu checks they reach one LU and opens its second session on the second.
grep -q "found matching LU device identifier for all (2) paths" "$out/cu.log" || fail "not run as multipath"
cunit_tally "$out/cu.log" "$out/results.txt"
[ "$failed" -eq 0 ] || { grep -B2 -A8 -i "fail" "$out/cu.log" | head -60; fail "iscsi-test-cu"; }
[ "$skipped" -eq 0 ] || fail "skipped tests"
[ "$passed" -ge 20 ] || fail "too few tests ran (see $out/cu.log)"
echo "PASS rbd_pr ($passed Prin/Prout tests across gateways)"
