#!/usr/bin/env bash
# Ceph label: libiscsi's iscsi-test-cu on an RBD LUN, the suites that reach the RBD backend —
# COMPARE AND WRITE (also from two sessions at once), WRITE SAME (UNMAP=1 as discard), UNMAP,
# GET LBA STATUS (rbd_diff_iterate2), READ CAPACITY(16), reads and writes with FUA.
# Runs inside tests/ceph/ceph_cluster.py (image rbd/conf 64M).
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
: "${CEPH_CONF:?run me under tests/ceph/ceph_cluster.py}"
rm -rf "$out"; mkdir -p "$out"
source "$(dirname "$0")/lib.sh"
port=$(free_port)
iqn=iqn.2026-12.org.vstor:rbdconformance
"$vstor" serve --control off --listen 127.0.0.1:$port --target $iqn --log-level warn \
  --lun "rbd:rbd/conf,conf=$CEPH_CONF" >"$out/vstor.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  if iscsi-ls iscsi://127.0.0.1:$port >/dev/null 2>&1; then break; fi
  kill -0 $pid 2>/dev/null || { cat "$out/vstor.log"; exit 1; }
  sleep 0.1
done
url=iscsi://127.0.0.1:$port/$iqn/0
suites="ALL.CompareAndWrite ALL.MultipathIO.CompareAndWrite ALL.MultipathIO.CompareAndWriteAsync ALL.WriteSame10
        ALL.WriteSame16 ALL.Unmap ALL.GetLBAStatus ALL.ReadCapacity16 ALL.Write10 ALL.Read10"
for s in $suites; do
  timeout 120 iscsi-test-cu --dataloss --verbose -t "$s" "$url" "$url" >>"$out/cu.log" 2>&1 || true
done
cunit_tally "$out/cu.log" "$out/results.txt"
[ "$passed" -ge 40 ] || { echo "too few tests ran (see $out/cu.log)"; exit 1; }
[ "$failed" -eq 0 ] || { grep -B2 -A8 -i "fail" "$out/cu.log" | head -60; exit 1; }
