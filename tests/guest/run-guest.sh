#!/usr/bin/env bash
# Guest-kernel test: boots Debian's cloud kernel in qemu-system-x86_64 (TCG) with a busybox
# initramfs (build-initramfs.sh) and hands it a thin file LUN served by `vstor serve`. The guest's
# own drivers use the disk; tests/guest/init runs the checks and prints markers on the serial
# console, which this script parses. The host checks that fstrim gave the space back in the image.
#
#   run-guest.sh VSTOR WORKDIR TRANSPORT [BOOTDIR]
#     TRANSPORT  iscsi  QEMU's libiscsi driver, virtio-scsi + scsi-block (SCSI passthrough: the
#                       guest's sd/sg drivers build the CDBs vstor executes)
#                nbd    QEMU's NBD driver on `vstor serve --nbd-listen`, virtio-blk
#     BOOTDIR    kernel + initramfs cache (default WORKDIR/../boot)
# Environment: VSTOR_GUEST_TIMEOUT (seconds for the whole guest run, default 200).
set -euo pipefail
vstor=${1:?path to vstor binary}
out=${2:?work directory}
transport=${3:?transport: iscsi or nbd}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
boot=${4:-$out/../boot}
timeout_s=${VSTOR_GUEST_TIMEOUT:-200}
size=$((256 * 1024 * 1024))
img=$out/guest.img
console=$out/console.log
iqn=iqn.2026-11.org.vstor:guest

pids=()
stop() {  # stop PID: SIGTERM, then SIGKILL if it is still there after 5 s (a QEMU whose iSCSI
  # or NBD server went away can hang in its reconnect loop and ignore SIGTERM)
  [ -n "$1" ] || return 0
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cleanup() {
  for p in "${pids[@]}"; do stop "$p"; done
  exec 3>&- 2>/dev/null || true
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*"
  if [ -s "$console" ]; then echo "---- guest console ($console)"; cat "$console"; echo "----"; fi
  if [ -s "$out/vstor.log" ]; then echo "---- vstor log (last 40 lines)"; tail -n 40 "$out/vstor.log"; echo "----"; fi
  exit 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
allocated() { echo $(($(stat -c '%b * %B' "$img"))); }
mib() { echo "$(($1 / 1048576)) MiB"; }

t0=$(date +%s)
# One builder at a time (two transports may be tested in parallel; they share BOOTDIR).
mkdir -p "$boot"
flock "$boot/.lock" "$here/build-initramfs.sh" "$boot" || fail "could not build the kernel/initramfs"
t_build=$(date +%s)

rm -f "$img" "$console" "$out/vstor.log" "$out/console.in"
port=$(free_port)
case $transport in
  iscsi)
    serve_args=(--listen 127.0.0.1:$port)
    drive="driver=iscsi,transport=tcp,portal=127.0.0.1:$port,target=$iqn,lun=0"
    drive+=",initiator-name=iqn.2026-11.org.vstor:guest-initiator,if=none,id=d0"
    devices=(-device virtio-scsi-pci,id=scsi0 -device scsi-block,drive=d0,bus=scsi0.0)
    ;;
  nbd)
    iport=$(free_port)
    serve_args=(--listen 127.0.0.1:$iport --nbd-listen 127.0.0.1:$port)
    drive="driver=nbd,server.type=inet,server.host=127.0.0.1,server.port=$port"
    drive+=",if=none,id=d0,discard=unmap,cache=none"
    devices=(-device virtio-blk-pci,drive=d0)
    ;;
  *) fail "unknown transport '$transport'" ;;
esac

"$vstor" serve "${serve_args[@]}" --target $iqn --lun "file:$img,size=256M" --log-level info --control off \
  >"$out/vstor.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then break; fi
  sleep 0.1
done
(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null || fail "vstor did not start on port $port"
[ -f "$img" ] || fail "vstor did not create $img"
alloc_start=$(allocated)

# The guest's console input is a FIFO: the host answers the guest's "WAIT trim" through it.
mkfifo "$out/console.in"
exec 3<>"$out/console.in"
qemu-system-x86_64 -accel tcg -m 512 -smp 1 -nographic -no-reboot -nic none \
  -kernel "$boot/vmlinuz" -initrd "$boot/initramfs.cpio.gz" \
  -append "console=ttyS0 quiet panic=-1 vstor.transport=$transport vstor.size=$size" \
  -drive "$drive" "${devices[@]}" \
  <"$out/console.in" >"$console" 2>&1 &
qemu=$!
pids+=($qemu)

deadline=$((t0 + timeout_s))
alloc_before_trim=
while kill -0 $qemu 2>/dev/null; do
  if [ -z "$alloc_before_trim" ] && grep -q '^VSTOR-GUEST WAIT trim' "$console"; then
    alloc_before_trim=$(allocated)
    echo go >&3
  fi
  if [ "$(date +%s)" -ge $deadline ]; then
    fail "timeout: the guest did not power off within ${timeout_s}s"
  fi
  sleep 0.2
done
wait $qemu || fail "qemu exited with status $? (the guest must power off cleanly)"
pids=("${pids[@]/$qemu/}")
t_guest=$(date +%s)
alloc_end=$(allocated)

# SIGTERM: vstor flushes and exits 0
kill -TERM "${pids[0]}"
wait "${pids[0]}" || fail "vstor did not exit 0 on SIGTERM"
pids=("${pids[@]:1}")

# plain text: no carriage returns, no terminal escapes from the firmware
sed -E 's/\r//g; s/\x1b(\[[0-9;?]*[A-Za-z]|c)//g' "$console" >"$console.tmp" && mv "$console.tmp" "$console"
echo "---- guest markers"
grep '^VSTOR-GUEST' "$console" || true
echo "----"

# ---- verdict --------------------------------------------------------------------------------
grep -q '^VSTOR-GUEST START' "$console" || fail "the guest's /init never started"
if grep -q '^VSTOR-GUEST FAIL' "$console"; then fail "the guest reported failures"; fi
grep -q '^VSTOR-GUEST DONE ok' "$console" || fail "the guest did not finish (no 'DONE ok' marker)"
expected=(attach discard-enabled raw-write raw-verify write-zeroes-enabled blkdiscard-zeroout
          zeroout-reads-zero raw-rewrite raw-reverify blkdiscard discard-reads-zero
          parallel-direct-io mkfs mount write sync umount fsck-after-write remount checksums
          fstrim fstrim-bytes umount-final fsck-final kernel-log)
if [ "$transport" = iscsi ]; then
  expected+=(sd-provisioning-mode sg-node sg_inq inq-vendor inq-disk sg_inq_vpd83 vpd83-naa
             sg_vpd_bl bl-max-unmap bl-max-unmap-descs sg_vpd_lbpv lbpv-lbpu lbpv-thin
             sg_readcap readcap-size readcap-lbpme readcap-blocksize sg_get_lba_status
             lba-status-deallocated)
fi
for e in "${expected[@]}"; do
  grep -qE "^VSTOR-GUEST PASS $e( |$)" "$console" || fail "missing PASS marker for '$e'"
done

# Space returned in the backend: the ~25 MiB the guest wrote and deleted was still allocated in
# the thin image before fstrim, and fstrim's UNMAPs punched it out again.
[ -n "$alloc_before_trim" ] || fail "the guest never asked for the pre-trim measurement"
echo "image allocation: start $(mib $alloc_start), before fstrim $(mib $alloc_before_trim), end $(mib $alloc_end)"
[ "$alloc_before_trim" -ge $((24 * 1048576)) ] ||
  fail "only $(mib $alloc_before_trim) allocated before fstrim; the guest's writes did not reach the image"
[ $((alloc_before_trim - alloc_end)) -ge $((24 * 1048576)) ] ||
  fail "fstrim returned only $(mib $((alloc_before_trim - alloc_end))) to the backend (expected >= 24 MiB)"

# vstor itself logged no errors
if grep -E '\[(error|critical)\]' "$out/vstor.log"; then fail "vstor logged errors"; fi

echo "guest ($transport): all checks passed — build $((t_build - t0))s, guest $((t_guest - t_build))s"
