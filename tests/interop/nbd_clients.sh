#!/usr/bin/env bash
# Interop: real NBD clients against `vstor serve --nbd-listen` — nbdinfo (size, flags, export
# list, base:allocation map), nbdcopy round trip of 256 MiB with a checksum, qemu-img/qemu-io
# through QEMU's NBD driver, fio's nbd engine with crc32c verification, and coherence with the
# iSCSI view of the same LUNs in both directions.
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
mkdir -p "$out"
rm -f "$out"/nbd*.img "$out"/nbd*.img.pr
source "$(dirname "$0")/lib.sh"
json_field() { python3 -c "import json,sys; d=json.load(sys.stdin); e=[x for x in d['exports'] if x['export-name']==sys.argv[1]][0]; print(e[sys.argv[2]])" "$@"; }

iqn=iqn.2026-11.org.vstor:nbdinterop
iport=$(free_port)
nport=$(free_port)
"$vstor" serve --control off --listen 127.0.0.1:$iport --nbd-listen 127.0.0.1:$nport --log-level warn --target $iqn \
  --lun mem:512M --lun "file:$out/nbd1.img,size=256M,name=img" --lun "mem:16M,ro,name=golden" \
  --lun "file:$out/nbd3.img,size=64M,thick,name=thick" --lun mem:8M,lun=7 >>"$out/vstor-nbd.log" 2>&1 &
pids+=($!)
wait_port $iport
wait_port $nport
nbd=nbd://127.0.0.1:$nport
iscsi=iscsi://127.0.0.1:$iport/$iqn

echo "== nbdinfo: default export, size and flags"
info=$(nbdinfo "$nbd")
echo "$info"
grep -q 'export-size: 536870912' <<<"$info" || fail "default export size"
grep -q 'is_read_only: false' <<<"$info" || fail "default export must be writable"
grep -q 'can_trim: true' <<<"$info" || fail "thin LUN must offer trim"
grep -q 'can_flush: true' <<<"$info" || fail "flush"
grep -q 'can_fua: true' <<<"$info" || fail "fua"
grep -q 'can_zero: true' <<<"$info" || fail "write zeroes"
grep -q 'can_fast_zero: true' <<<"$info" || fail "fast zero"
grep -q 'can_multi_conn: true' <<<"$info" || fail "multi-conn"
grep -q 'can_cache: true' <<<"$info" || fail "cache"
grep -q 'block_size_minimum: 512' <<<"$info" || fail "minimum block size"
grep -q 'block_size_maximum: 33554432' <<<"$info" || fail "maximum block size"
grep -q 'base:allocation' <<<"$info" || fail "base:allocation context"

echo "== nbdinfo --list: every LUN is an export, flags per LUN"
list=$(nbdinfo --list --json "$nbd")
for name in lun0 img golden thick lun7; do
  [ -n "$(json_field "$name" export-name <<<"$list")" ] || fail "export $name not listed"
done
[ "$(json_field golden is_read_only <<<"$list")" = True ] || fail "golden must be read-only"
[ "$(json_field golden can_zero <<<"$list")" = False ] || fail "read-only export must not offer zero"
[ "$(json_field thick can_trim <<<"$list")" = False ] || fail "thick LUN must not offer trim"
[ "$(json_field thick export-size <<<"$list")" = 67108864 ] || fail "thick size"
[ "$(json_field img export-size <<<"$list")" = 268435456 ] || fail "img size"
[ "$(json_field lun7 export-size <<<"$list")" = 8388608 ] || fail "lun=7 export size"
if nbdinfo "$nbd/no-such-export" >/dev/null 2>&1; then fail "unknown export accepted"; fi

echo "== nbdinfo --map: a fresh thin LUN is one hole"
map=$(nbdinfo --map "$nbd/img")
echo "$map"
[ "$(wc -l <<<"$map")" -eq 1 ] && grep -q 'hole,zero' <<<"$map" || fail "fresh LUN map: $map"

echo "== nbdcopy: 256 MiB of random data there and back"
nbdcopy_round_trip 256M "$nbd/img"
map=$(nbdinfo --map "$nbd/img")
grep -q ' data' <<<"$map" || fail "map after writing: $map"

echo "== the same bytes through iSCSI (coherence NBD -> iSCSI)"
qemu-img compare -f raw -F raw "$out/random.img" "$iscsi/1" || fail "iSCSI view differs from what NBD wrote"
qemu-img compare -f raw -F raw "$nbd/img" "$iscsi/1" || fail "nbd:// and iscsi:// of the same LUN differ"

echo "== qemu-img convert/compare over nbd://, written through iSCSI first (coherence iSCSI -> NBD)"
head -c 64M /dev/urandom >"$out/nbd-random64.img"
qemu-img convert -n -f raw -O raw "$out/nbd-random64.img" "$iscsi/0"
qemu-img compare -f raw -F raw "$out/nbd-random64.img" "$nbd" || fail "NBD view differs from what iSCSI wrote"
head -c 64M /dev/urandom >"$out/nbd-random64b.img"
qemu-img convert -n -f raw -O raw "$out/nbd-random64b.img" "$nbd/lun0"
qemu-img compare -f raw -F raw "$out/nbd-random64b.img" "$nbd/lun0" || fail "qemu-img convert over NBD"
qemu-img compare -f raw -F raw "$iscsi/0" "$nbd/lun0" || fail "iscsi:// and nbd:// differ after an NBD write"

echo "== qemu-io: pattern write/read, zero, discard, flush"
io=$(qemu-io -f raw -c 'write -P 0xab 1M 1M' -c 'read -P 0xab 1M 1M' -c 'write -z 4M 1M' -c 'read -P 0 4M 1M' \
  -c 'discard 8M 2M' -c 'read -P 0 8M 2M' -c 'write -P 0xcd -f 12M 64k' -c 'read -P 0xcd 12M 64k' -c flush "$nbd/lun0" 2>&1)
echo "$io"
grep -q "Pattern verification failed" <<<"$io" && fail "qemu-io pattern mismatch"
[ "$(grep -c '^read ' <<<"$io")" -eq 4 ] || fail "qemu-io reads"
grep -qi "error\|failed" <<<"$io" && fail "qemu-io reported an error"
io=$(qemu-io -f raw -r -c 'read 0 64k' "$nbd/golden" 2>&1) || fail "read-only export read: $io"
if qemu-io -f raw -c 'write 0 64k' "$nbd/golden" 2>&1 | grep '^wrote' >/dev/null; then fail "write to a read-only export"; fi

echo "== fio nbd engine: 4K random writes at QD32 with crc32c verification"
fio --name=nbdverify --ioengine=nbd --uri="$nbd/lun0" --rw=randwrite --bs=4k --iodepth=32 --size=64M \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --output="$out/fio-nbd.txt" || fail "fio (see $out/fio-nbd.txt)"
grep -q "err= 0" "$out/fio-nbd.txt" || fail "fio errors: $(cat "$out/fio-nbd.txt")"
fio --name=nbdseq --ioengine=nbd --uri="$nbd/img" --rw=write --bs=1M --iodepth=8 --size=128M \
    --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --output="$out/fio-nbd-seq.txt" || fail "fio sequential"

echo "== several connections at once (multi-conn): nbdcopy with 4 connections"
nbdcopy --connections=4 "$out/random.img" "$nbd/img"
nbdcopy --connections=4 "$nbd/img" "$out/nbd-back2.img"
cmp -s "$out/random.img" "$out/nbd-back2.img" || fail "multi-connection round trip"

echo "== trim through NBD shows as a hole through both protocols"
qemu-io -f raw -c 'discard 0 256M' "$nbd/img" >/dev/null
map=$(nbdinfo --map "$nbd/img")
[ "$(wc -l <<<"$map")" -eq 1 ] && grep -q 'hole,zero' <<<"$map" || fail "map after trim: $map"
# GET LBA STATUS through iSCSI (qemu-img map) sees the same deallocation, and the data reads as zeroes.
imap=$(qemu-img map --output=json -f raw "$iscsi/1")
echo "$imap"
python3 -c 'import json,sys; m=json.load(sys.stdin); sys.exit(0 if len(m)==1 and not m[0]["data"] and m[0]["zero"] else 1)' <<<"$imap" \
  || fail "iSCSI map of the NBD-trimmed LUN: $imap"
truncate -s 256M "$out/nbd-zero.img"
qemu-img compare -f raw -F raw "$out/nbd-zero.img" "$iscsi/1" || fail "trimmed LUN does not read as zeroes over iSCSI"

echo "== TLS (GnuTLS): X.509 and PSK with libnbd's nbds://, plain refused when required"
tdir="$out/tls"
rm -rf "$tdir" && mkdir -p "$tdir/client"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tdir/ca-key.pem" -out "$tdir/ca-cert.pem" -days 2 \
  -subj "/CN=vstor test CA" 2>/dev/null
cert() {  # cert NAME USAGE SAN: a key and a certificate signed by the test CA
  openssl req -newkey rsa:2048 -nodes -keyout "$tdir/$1-key.pem" -out "$tdir/$1.csr" -subj "/CN=$1" 2>/dev/null
  printf 'extendedKeyUsage=%s\n%s' "$2" "${3:+subjectAltName=$3}" >"$tdir/$1.ext"
  openssl x509 -req -in "$tdir/$1.csr" -CA "$tdir/ca-cert.pem" -CAkey "$tdir/ca-key.pem" -CAcreateserial \
    -out "$tdir/$1-cert.pem" -days 2 -extfile "$tdir/$1.ext" 2>/dev/null
}
cert server serverAuth "IP:127.0.0.1,DNS:localhost"
cert client clientAuth ""
cp "$tdir/ca-cert.pem" "$tdir/client/ca-cert.pem"
cp "$tdir/client-cert.pem" "$tdir/client/client-cert.pem"
cp "$tdir/client-key.pem" "$tdir/client/client-key.pem"
mkdir -p "$tdir/noclient" && cp "$tdir/ca-cert.pem" "$tdir/noclient/"
echo "alice:$(openssl rand -hex 32)" >"$tdir/keys.psk"
mkdir -p "$tdir/psk" && cp "$tdir/keys.psk" "$tdir/psk/keys.psk"  # QEMU's tls-creds-psk reads DIR/keys.psk
echo "alice:$(openssl rand -hex 32)" >"$tdir/wrong.psk"
tport=$(free_port)
"$vstor" serve --control off --listen 127.0.0.1:0 --nbd-listen 127.0.0.1:$tport --log-level info \
  --nbd-tls "require,cert=$tdir/server-cert.pem,key=$tdir/server-key.pem,psk=$tdir/keys.psk" \
  --lun mem:64M >>"$out/vstor-nbd-tls.log" 2>&1 &
pids+=($!)
wait_port $tport
tinfo=$(nbdinfo "nbds://127.0.0.1:$tport?tls-certificates=$tdir/noclient")
grep -q "with TLS" <<<"$tinfo" && grep -q 'export-size: 67108864' <<<"$tinfo" || fail "X.509: $tinfo"
nbdinfo "nbds://alice@127.0.0.1:$tport?tls-psk-file=$tdir/keys.psk" | grep "with TLS" >/dev/null || fail "PSK"
if nbdinfo "nbd://127.0.0.1:$tport" >/dev/null 2>&1; then fail "plain client accepted on a TLS-only server"; fi
if nbdinfo "nbds://alice@127.0.0.1:$tport?tls-psk-file=$tdir/wrong.psk" >/dev/null 2>&1; then fail "wrong PSK accepted"; fi
head -c 32M /dev/urandom >"$out/nbd-random32.img"
nbdcopy "$out/nbd-random32.img" "nbds://127.0.0.1:$tport?tls-certificates=$tdir/noclient"
nbdcopy "nbds://alice@127.0.0.1:$tport?tls-psk-file=$tdir/keys.psk" "$out/nbd-back32.img"
cmp -s "$out/nbd-random32.img" <(head -c 32M "$out/nbd-back32.img") || fail "round trip over TLS"
# (fio's nbd engine refuses URIs that name local files, so TLS is driven by nbdcopy and qemu-io.)
nbdcopy --connections=4 "$out/nbd-random64.img" "nbds://alice@127.0.0.1:$tport?tls-psk-file=$tdir/keys.psk"
qemu-img compare -f raw -F raw --object "tls-creds-psk,id=tls0,dir=$tdir/psk,username=alice,endpoint=client" \
  "$out/nbd-random64.img" "json:{\"driver\":\"raw\",\"file\":{\"driver\":\"nbd\",\"server\":{\"type\":\"inet\",\"host\":\"127.0.0.1\",\"port\":\"$tport\"},\"tls-creds\":\"tls0\"}}" \
  || fail "qemu-img compare over TLS (PSK)"
grep -q "TLS1.3 PSK alice session established" "$out/vstor-nbd-tls.log" || fail "no PSK session logged"
grep -q "TLS handshake failed" "$out/vstor-nbd-tls.log" || fail "the wrong PSK should fail the TLS handshake"
kill -TERM "${pids[-1]}" && wait "${pids[-1]}" || fail "TLS server exit status"
unset 'pids[-1]'

echo "== TLS offered, client certificates required (ca=)"
tport=$(free_port)
"$vstor" serve --control off --listen 127.0.0.1:0 --nbd-listen 127.0.0.1:$tport --log-level info \
  --nbd-tls "on,cert=$tdir/server-cert.pem,key=$tdir/server-key.pem,ca=$tdir/ca-cert.pem" \
  --lun mem:16M >>"$out/vstor-nbd-tls2.log" 2>&1 &
pids+=($!)
wait_port $tport
nbdinfo "nbd://127.0.0.1:$tport" | grep "without TLS" >/dev/null || fail "plain client refused while TLS is only offered"
nbdinfo "nbds://127.0.0.1:$tport?tls-certificates=$tdir/client" | grep "with TLS" >/dev/null || fail "client certificate refused"
if nbdinfo "nbds://127.0.0.1:$tport?tls-certificates=$tdir/noclient" >/dev/null 2>&1; then
  fail "TLS without a client certificate accepted although ca= requires one"
fi
kill -TERM "${pids[-1]}" && wait "${pids[-1]}" || fail "TLS server exit status"
unset 'pids[-1]'
if err=$("$vstor" serve --control off --listen 127.0.0.1:0 --nbd-listen 127.0.0.1:0 --nbd-tls "require,cert=/nonexistent.pem,key=/x" --lun mem:1M 2>&1); then
  fail "missing TLS certificate accepted"
fi
grep -q "cannot read '/nonexistent.pem'" <<<"$err" || fail "unclear TLS error: $err"

echo "== SIGTERM with NBD clients connected (one mid-handshake, one idle in transmission): exit 0"
exec 4<>/dev/tcp/127.0.0.1/$nport
fio --name=idle --ioengine=nbd --uri="$nbd/lun0" --rw=read --bs=4k --size=4k --thinktime=20s --time_based --runtime=30 \
    --output=/dev/null >/dev/null 2>&1 &
fio_pid=$!
sleep 1
kill -TERM "${pids[0]}"
wait "${pids[0]}" || fail "vstor did not exit 0 on SIGTERM"
pids=("${pids[@]:1}")
exec 4<&-
kill "$fio_pid" 2>/dev/null || true
wait "$fio_pid" 2>/dev/null || true
echo "interop nbd: all checks passed"
