#!/usr/bin/env bash
# Interop: `vstor ctl` changes a running target while qemu-io keeps writing and verifying LUN 0:
# add LUN 1 (iscsi-ls sees it), resize it (READ CAPACITY shows it), fill and remove it (gone),
# add it back, `ctl save`, restart from the saved file: same LUNs, same bytes. LUN 0's I/O never
# fails. (The unit attentions a connected initiator gets are checked in tests/unit/control.)
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
rm -rf "$out"; mkdir -p "$out"
source "$(dirname "$0")/lib.sh"

iqn=iqn.2026-12.org.vstor:ctl
sock="$out/control.sock"
write_config "file:$out/lun0.img,size=64M"
serve_controlled "$out/vstor.toml"
url=iscsi://127.0.0.1:$port/$iqn

echo "== background I/O on LUN 0 (write + verified read, rotating patterns)"
: >"$out/io.failed"
rm -f "$out/io.stop"
(
  i=0
  while [ ! -e "$out/io.stop" ]; do
    p=$(( (i % 200) + 1 )); off=$(( (i % 32) * 1048576 ))
    if ! qemu-io -f raw -c "write -P $p $off 1M" -c "read -P $p $off 1M" "$url/0" >>"$out/io.log" 2>&1; then
      echo "round $i failed" >>"$out/io.failed"
    fi
    i=$((i + 1))
  done
  echo "$i" >"$out/io.rounds"
) &
io=$!
pids+=($io)
sleep 1

echo "== vstor image create: a thick 32M image, progress as plain lines when not a terminal"
"$vstor" image create "$out/lun1.img" --size 32M --thick 2>"$out/progress.txt"
grep -q "100%" "$out/progress.txt" || fail "no progress shown: $(cat "$out/progress.txt")"
[ "$(du -k "$out/lun1.img" | cut -f1)" -ge 32768 ] || fail "thick image is not allocated"
if "$vstor" image create "$out/lun1.img" --size 32M 2>/dev/null; then fail "image create overwrote a file"; fi

echo "== add LUN 1"
ctl lun add "file:$out/lun1.img,name=scratch"
iscsi-ls -s "iscsi://127.0.0.1:$port" | tee "$out/ls1.txt"
grep -q '^Lun:1 ' "$out/ls1.txt" || fail "LUN 1 not in REPORT LUNS"
nbdinfo --list "nbd://127.0.0.1:$nport" | tee "$out/nbd1.txt" | grep "export=\"scratch\"" >/dev/null ||
  fail "LUN 1 is not an NBD export: $(cat "$out/nbd1.txt")"

echo "== resize LUN 1 to 48M"
ctl lun resize 1 48M
iscsi-readcapacity16 "$url/1" | grep "Total size:50331648" >/dev/null || fail "capacity after resize"
if ctl lun resize 1 16M 2>"$out/err.txt"; then fail "shrink without --force accepted"; fi
grep -q "force" "$out/err.txt" || fail "shrink refusal does not say why: $(cat "$out/err.txt")"

echo "== fill LUN 1, remove it, see it gone"
qemu-io -f raw -c "write -P 0xa7 0 48M" "$url/1" >/dev/null
ctl lun remove 1
iscsi-ls -s "iscsi://127.0.0.1:$port" | tee "$out/ls2.txt"
if grep -q '^Lun:1 ' "$out/ls2.txt"; then fail "LUN 1 still listed after remove"; fi
if nbdinfo --list "nbd://127.0.0.1:$nport" | grep "scratch" >/dev/null; then fail "NBD export of LUN 1 outlived it"; fi

echo "== add it back (same image), check the bytes survived"
ctl lun add "file:$out/lun1.img,name=scratch"
qemu-io -f raw -c "read -P 0xa7 0 48M" "$url/1" | grep "read 50331648/50331648" >/dev/null || fail "LUN 1 data after re-add"
ctl status

echo "== stop the background I/O: it never failed"
touch "$out/io.stop"
wait $io
rounds=$(cat "$out/io.rounds")
[ -s "$out/io.failed" ] && fail "I/O on LUN 0 failed: $(cat "$out/io.failed")"
[ "$rounds" -ge 3 ] || fail "only $rounds I/O rounds ran"
echo "$rounds write+verify rounds on LUN 0, none failed"
last=$(( ((rounds - 1) % 200) + 1 )); last_off=$(( ((rounds - 1) % 32) * 1048576 ))

echo "== save, restart from the saved file, same LUNs and data"
ctl save "$out/saved.toml"
[ "$(stat -c %a "$out/saved.toml")" = 600 ] || fail "saved config is not mode 600"
cat "$out/saved.toml"
ctl stats
kill -TERM $server; wait $server || fail "serve did not exit 0 on SIGTERM"
serve_controlled "$out/saved.toml"
iscsi-ls -s "iscsi://127.0.0.1:$port" | tee "$out/ls3.txt"
[ "$(grep -c '^Lun:' "$out/ls3.txt")" -eq 2 ] || fail "restart from the saved file: expected 2 LUNs"
qemu-io -f raw -c "read -P 0xa7 0 48M" "$url/1" | grep "read 50331648/50331648" >/dev/null || fail "LUN 1 data after restart"
qemu-io -f raw -c "read -P 0xa7 0 48M" "nbd://127.0.0.1:$nport/scratch" | grep "read 50331648/50331648" >/dev/null ||
  fail "LUN 1 over NBD after restart"
qemu-io -f raw -c "read -P $last $last_off 1M" "$url/0" | grep "read 1048576/1048576" >/dev/null || fail "LUN 0 data after restart"

echo "== ctl lun sanitize: progress while it runs (from REQUEST SENSE), then zeroes"
ctl lun sanitize 1 --method overwrite 2>"$out/sanitize.txt" | tee -a "$out/sanitize.txt"
grep -q "sanitizing LUN 1: 100%" "$out/sanitize.txt" || fail "no sanitize progress: $(cat "$out/sanitize.txt")"
qemu-io -f raw -c "read -P 0 0 48M" "$url/1" | grep "read 50331648/50331648" >/dev/null || fail "LUN 1 not zero after SANITIZE"
ctl lun set-ro 0 on
if ctl lun sanitize 0 2>"$out/err.txt"; then fail "SANITIZE of a write-protected LUN accepted"; fi
grep -q "write-protected" "$out/err.txt" || fail "refusal does not say why: $(cat "$out/err.txt")"

if [ -n "${3:-}" ]; then
  echo "== make install's files (staged with DESTDIR)"
  DESTDIR="$out/stage" cmake --install "$3" >/dev/null
  unit=$(find "$out/stage" -name vstor.service)
  bin=$(find "$out/stage" -path '*/bin/vstor')
  [ -n "$unit" ] && [ -x "$bin" ] || fail "install did not stage bin/vstor and vstor.service"
  grep -q "^ExecStart=${bin#"$out/stage"} serve --config /etc/vstor/vstor.toml" "$unit" || fail "unit ExecStart: $(grep Exec "$unit")"
  "$bin" ctl --help | grep "lun" >/dev/null || fail "installed vstor ctl --help"
fi
echo "control plane interop: OK"
