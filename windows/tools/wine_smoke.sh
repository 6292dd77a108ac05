#!/usr/bin/env bash
# Smoke test of the Windows user-mode build under Wine (wine64): the engine cross-built for Windows
# runs CDBs (vstor-storport.exe --self-test), and the bridge probe starts and reports that no
# vstor adapter exists (Wine has no StorPort). Skips (77) without wine64.
set -euo pipefail
build=$1
wine=$(command -v wine64 || true)
[ -z "$wine" ] && [ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64
if [ -z "$wine" ]; then
  echo "wine64 not installed: skipped"
  exit 77
fi
cmake --build "$build" --target vstor_storport_exe vstor_bridge_win64 >/dev/null
export WINEPREFIX="$build/windows/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
exe="$build/windows/x64/service/vstor-storport.exe"
probe="$build/windows/x64/vstor-bridge-probe.exe"

out=$(timeout 300 "$wine" "$exe" --self-test --mem 16M 2>&1) || { echo "$out"; echo "FAIL: self-test"; exit 1; }
echo "$out"
echo "$out" | grep -q "self-test: TEST UNIT READY ok, INQUIRY ok, READ CAPACITY ok (last LBA 32767), REPORT LUNS ok, WRITE ok, READ ok, data ok" \
  || { echo "FAIL: self-test output"; exit 1; }

set +e
out=$(timeout 120 "$wine" "$probe" 2>&1)
rc=$?
set -e
echo "$out"
[ "$rc" -eq 2 ] || { echo "FAIL: probe exit $rc, want 2 (no adapter)"; exit 1; }
echo "$out" | grep -q "no vstor adapter" || { echo "FAIL: probe message"; exit 1; }

set +e
out=$(timeout 120 "$wine" "$exe" --mem 16M 2>&1)
rc=$?
set -e
echo "$out"
[ "$rc" -eq 1 ] && echo "$out" | grep -q "no vstor adapter" || { echo "FAIL: service without adapter (exit $rc)"; exit 1; }
echo "wine smoke: ok"
