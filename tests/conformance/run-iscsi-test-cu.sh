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
rm -f "$out"/*.img "$out"/*.pr

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iqn=iqn.2026-11.org.vstor:conformance
"$vstor" serve --listen 127.0.0.1:$port --target $iqn --log-level warn \
  --lun "file:$out/thin.img,size=256M" \
  >"$out/vstor.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  if iscsi-ls iscsi://127.0.0.1:$port >/dev/null 2>&1; then break; fi
  sleep 0.1
done

url=iscsi://127.0.0.1:$port/$iqn/0
timeout 1200 iscsi-test-cu --dataloss --allow-sanitize --verbose -t ALL "$url" "$url" >"$out/thin.log" 2>&1 || true

python3 "$here/parse_cunit.py" "$out/thin.log" | sed 's/^/thin:/' >"$out/results.txt"
{ grep -v '^\s*#' "$here/known-failures.txt" || true; } | awk 'NF {print $1}' | sort -u >"$out/known.txt"

passed=$(grep -c ' passed$' "$out/results.txt" || true)
skipped=$(grep -c ' skipped$' "$out/results.txt" || true)
failed_all=$( { grep ' failed$' "$out/results.txt" || true; } | awk '{print $1}' | sort -u)
total=$(wc -l <"$out/results.txt")
unexpected=$(comm -23 <(echo "$failed_all" | sed '/^$/d') "$out/known.txt")
fixed=$(comm -13 <(echo "$failed_all" | sed '/^$/d') "$out/known.txt")
failed=$(echo "$failed_all" | sed '/^$/d' | wc -l)

{
  echo "iscsi-test-cu ALL against vstor: $total tests"
  echo "passed: $passed  skipped: $skipped  failed: $failed"
  echo
  echo "failed tests:"; echo "$failed_all" | sed '/^$/d; s/^/  /'
  echo
  echo "skipped tests:"; grep ' skipped$' "$out/results.txt" | awk '{print "  " $1}'
} >"$out/summary.txt"
cat "$out/summary.txt" | head -3

if [ "$total" -lt 200 ]; then
  echo "conformance: only $total tests ran (expected ~230): the run did not complete"; tail -20 "$out/thin.log"; exit 1
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
