#!/usr/bin/env bash
# Conformance: libiscsi's iscsi-test-cu, family ALL, destructive and SANITIZE tests allowed, with a
# multipath URL, against vstor serving the LUN configurations the tests need.
# Writes build/conformance/summary.txt; fails if any test fails or is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
vstor=${1:?path to vstor binary}
out=${2:?output directory}
mkdir -p "$out"
rm -f "$out"/*.img "$out"/*.pr "$out"/*.log

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iqn=iqn.2026-11.org.vstor:conformance
# The configurations the suite needs: a thin LUN (most tests), a removable one (START STOP UNIT,
# PREVENT ALLOW, no-media tests), a read-only one (write-protect tests) and one with 4 KiB physical
# blocks (the unaligned-UNMAP and data-out-size tests skip unless LBPPB > 1).
# The thin LUN sanitizes at 32 MiB/s (sanitize_rate), as a disk shared with other LUNs would be
# set up: Sanitize.Reset checks that an OVERWRITE is still running, and surviving resets and a
# logout, 4 s after it started, which an unpaced 256 MiB overwrite is not.
truncate -s 64M "$out/ro.img"
"$vstor" serve --listen 127.0.0.1:$port --target $iqn --log-level warn \
  --lun "file:$out/thin.img,size=256M,sanitize_rate=32M" \
  --lun "mem:64M,removable" \
  --lun "file:$out/ro.img,ro" \
  --lun "mem:64M,pbs=4096" \
  >"$out/vstor.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  if iscsi-ls iscsi://127.0.0.1:$port >/dev/null 2>&1; then break; fi
  sleep 0.1
done

: >"$out/results.txt"
# config:LUN:suites — ALL on the thin LUN; on the others only the suites written for them (the
# rest of ALL assumes a writable disk with its medium present).
# Every test runs in its own iscsi-test-cu run, with its own multipath sessions. Within one run
# the suite's second session stays logged in from test to test and carries what one test leaves
# behind into the next: Sanitize.Reservations takes a RESERVE(6) on it that is never released
# (its cleanup logs that session out only when it is not the multipath one), so Sanitize.Reset's
# SANITIZE meets RESERVATION CONFLICT; PreventAllow.LUNReset resets the LUN while it is logged in,
# so PreventAllow.2ITNexuses meets the 29h/03h unit attention SAM-5 requires for every I_T nexus.
# Isolating the tests is the fix; holding back a reservation or a unit attention would not be.
# The exception: iSCSITMF runs as one suite, because its LUNResetSimpleAsync fails whenever it
# runs without AbortTaskSimpleAsync before it in the same process.
all_tests=$(iscsi-test-cu -l)
whole_suites='iSCSITMF'
# What to run for each name in $1: its tests (ALL -> ALL.Suite.Test...; SCSI.Sanitize.Readonly ->
# itself), a suite in $whole_suites as one name.
runs() {
  for name in $1; do
    printf '%s\n' "$all_tests" | awk -v p="$name" '$0 == p || index($0, p ".") == 1' |
      awk 'NR > 1 && index($0, prev ".") != 1 {print prev} {prev = $0} END {if (NR) print prev}' |
      awk -v whole="$whole_suites" 'BEGIN {split(whole, w, " "); for (i in w) keep[w[i]] = 1}
        {n = split($0, part, "."); if (n == 3 && part[2] in keep) $0 = part[1] "." part[2]}
        !seen[$0]++'
  done
}
for config in "thin:0:ALL" "removable:1:SCSI.StartStopUnit SCSI.PreventAllow SCSI.NoMedia" \
              "readonly:2:SCSI.ReadOnly SCSI.Sanitize.Readonly" \
              "physical4k:3:SCSI.WriteSame10 SCSI.WriteSame16 SCSI.CompareAndWrite"; do
  IFS=: read -r name lun suites <<<"$config"
  url=iscsi://127.0.0.1:$port/$iqn/$lun
  : >"$out/$name.log"
  tests=$(runs "$suites")
  [ -n "$tests" ] || { echo "conformance: iscsi-test-cu -l lists no tests for $name ($suites)"; exit 1; }
  for t in $tests; do
    timeout 1200 iscsi-test-cu --dataloss --allow-sanitize --verbose -t "$t" "$url" "$url" >>"$out/$name.log" 2>&1 || true
  done
  python3 "$here/parse_cunit.py" "$out/$name.log" | sed "s/^/$name /" >>"$out/results.txt"
done
# One outcome per test: failed if it failed in any configuration, passed if it passed in one,
# skipped only if every configuration skipped it.
python3 "$here/merge_outcomes.py" "$out/results.txt" >"$out/merged.txt"

passed=$(grep -c ' passed$' "$out/merged.txt" || true)
skipped=$(grep -c ' skipped$' "$out/merged.txt" || true)
failed_all=$( { grep ' failed$' "$out/merged.txt" || true; } | awk '{print $1}' | sort -u)
total=$(wc -l <"$out/merged.txt")
failed=$(echo "$failed_all" | sed '/^$/d' | wc -l)

{
  echo "iscsi-test-cu ALL against vstor: $total tests"
  echo "passed: $passed  skipped: $skipped  failed: $failed"
  echo
  echo "failed tests:"; echo "$failed_all" | sed '/^$/d; s/^/  /'
  echo
  echo "skipped tests:"; { grep ' skipped$' "$out/merged.txt" || true; } | awk '{print "  " $1}'
} >"$out/summary.txt"
cat "$out/summary.txt" | head -3

if [ "$total" -lt 200 ]; then
  echo "conformance: only $total tests ran (expected ~230): the run did not complete"; tail -20 "$out"/*.log; exit 1
fi
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" -ne 0 ] || [ "$skipped" -ne 0 ]; then
  echo "conformance: every test must pass (see $out/summary.txt and the per-configuration logs)"; exit 1
fi
