#!/usr/bin/env bash
# Conformance: libiscsi's iscsi-test-cu, family ALL, destructive and SANITIZE tests allowed, with a
# multipath URL, against vstor serving the LUN configurations the tests need.
# Writes build/conformance/summary.txt; fails if any test fails that is not listed in
# known-failures.txt (and says which listed ones now pass).
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
truncate -s 64M "$out/ro.img"
"$vstor" serve --listen 127.0.0.1:$port --target $iqn --log-level warn \
  --lun "file:$out/thin.img,size=256M" \
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
for config in "thin:0:ALL" "removable:1:SCSI.StartStopUnit SCSI.PreventAllow SCSI.NoMedia" "readonly:2:SCSI.ReadOnly SCSI.Sanitize.Readonly" \
              "physical4k:3:SCSI.WriteSame10 SCSI.WriteSame16 SCSI.CompareAndWrite"; do
  IFS=: read -r name lun suites <<<"$config"
  url=iscsi://127.0.0.1:$port/$iqn/$lun
  : >"$out/$name.log"
  for suite in $suites; do
    timeout 1200 iscsi-test-cu --dataloss --allow-sanitize --verbose -t "$suite" "$url" "$url" >>"$out/$name.log" 2>&1 || true
  done
  python3 "$here/parse_cunit.py" "$out/$name.log" | sed "s/^/$name /" >>"$out/results.txt"
done
# One outcome per test: failed if it failed in any configuration, passed if it passed in one,
# skipped only if every configuration skipped it.
python3 "$here/merge_outcomes.py" "$out/results.txt" >"$out/merged.txt"
{ grep -v '^\s*#' "$here/known-failures.txt" || true; } | awk 'NF {print $1}' | sort -u >"$out/known.txt"

passed=$(grep -c ' passed$' "$out/merged.txt" || true)
skipped=$(grep -c ' skipped$' "$out/merged.txt" || true)
failed_all=$( { grep ' failed$' "$out/merged.txt" || true; } | awk '{print $1}' | sort -u)
total=$(wc -l <"$out/merged.txt")
unexpected=$(comm -23 <(echo "$failed_all" | sed '/^$/d') "$out/known.txt")
fixed=$(comm -13 <(echo "$failed_all" | sed '/^$/d') "$out/known.txt")
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
if [ -n "$fixed" ]; then
  echo "known failures that now pass (remove them from known-failures.txt):"; echo "$fixed" | sed 's/^/  /'
fi
if [ -n "$unexpected" ]; then
  echo "UNEXPECTED FAILURES:"; echo "$unexpected" | sed 's/^/  /'
  echo "$passed passed, $failed failed, $skipped skipped"
  exit 1
fi
echo "$passed passed, $failed failed, $skipped skipped"
