#!/usr/bin/env bash
# `make bench`: vstor and its peers measured in the same run on loopback, driven by the same
# clients, printed as a table of ratios and written to build/bench/results.json.
#   iSCSI: vstor (mem LUN) vs tgt (Debian's tgtd, file LUN in /dev/shm, bs rdwr), iscsi-perf
#          4 KiB random read at QD 1/32 and 1 MiB sequential read at QD 8; qemu-img bench 4 KiB
#          writes at QD 32.
#   NBD:   vstor (--nbd-listen on the same mem LUN) vs `nbdkit memory`, fio's nbd engine: 4 KiB
#          random read and random write at QD 32, 1 MiB sequential read at QD 8.
#   Ceiling: iperf3 single stream on loopback.
set -euo pipefail
vstor=${1:?path to vstor}
out=${2:?output directory}
secs=${BENCH_SECONDS:-10}
mkdir -p "$out"
pids=()
cleanup() {
  # tgtd ignores SIGTERM while it has targets configured: stop everything with SIGKILL.
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -f /dev/shm/vstor-bench-tgt.img
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# --- peers -------------------------------------------------------------------------------------
vport=$(free_port)
vnport=$(free_port)
"$vstor" serve --control off --listen 127.0.0.1:$vport --nbd-listen 127.0.0.1:$vnport \
  --target iqn.2026-11.org.vstor:bench --lun mem:1G --log-level warn >"$out/vstor.log" 2>&1 &
pids+=($!)
vurl=iscsi://127.0.0.1:$vport/iqn.2026-11.org.vstor:bench/0

tport=$(free_port)
pkill -9 -f -- "--control-port 7" 2>/dev/null || true  # a tgtd left over from an interrupted run
truncate -s 1G /dev/shm/vstor-bench-tgt.img
tgtd -f --iscsi portal=127.0.0.1:$tport --control-port 7 >"$out/tgt.log" 2>&1 &
pids+=($!)
sleep 1
tgtadm -C 7 --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.org.vstor:tgt-peer
tgtadm -C 7 --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b /dev/shm/vstor-bench-tgt.img --bstype rdwr
tgtadm -C 7 --lld iscsi --op bind --mode target --tid 1 -I ALL
turl=iscsi://127.0.0.1:$tport/iqn.2026-11.org.vstor:tgt-peer/1
knport=$(free_port)
nbdkit -f -i 127.0.0.1 -p "$knport" memory 1G >"$out/nbdkit.log" 2>&1 &
pids+=($!)
sleep 0.5

# iscsi-perf prints "iops average N (M MB/s)" when its timeout ends.
perf() {  # perf URL QD BLOCKS [-r] -> "IOPS MBps"
  local url=$1 qd=$2 blocks=$3; shift 3
  iscsi-perf -m "$qd" -b "$blocks" -t "$secs" "$@" "$url" 2>&1 | tr '\r' '\n' |
    awk '/iops average/ {i=$3; m=$4} END {gsub(/\(/,"",m); print i+0, m+0}'
}
qemu_write_iops() {  # 4 KiB writes at QD 32 through QEMU's iSCSI driver
  local url=$1 n=200000
  local t
  t=$(qemu-img bench -f raw -w -t none -c $n -d 32 -s 4k "$url" 2>&1 | awk '/Run completed in/ {print $4}')
  python3 -c "print(round($n / $t))"
}

echo "measuring (each ${secs}s)..."
read -r v_rr32 _ < <(perf "$vurl" 32 8 -r)
read -r t_rr32 _ < <(perf "$turl" 32 8 -r)
read -r v_rr1 _ < <(perf "$vurl" 1 8 -r)
read -r t_rr1 _ < <(perf "$turl" 1 8 -r)
read -r _ v_seq < <(perf "$vurl" 8 2048)
read -r _ t_seq < <(perf "$turl" 8 2048)
v_w32=$(qemu_write_iops "$vurl")
t_w32=$(qemu_write_iops "$turl")
# fio's nbd engine (libnbd): prints IOPS and MB/s of the one job.
nbd_fio() {  # nbd_fio URI RW BS QD -> "IOPS MBps"
  fio --name=bench --ioengine=nbd --uri="$1" --rw="$2" --bs="$3" --iodepth="$4" --size=1G \
      --time_based --runtime="$secs" --output-format=json --output="$out/fio-nbd.json" >/dev/null 2>&1
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; d=j["write"] if j["write"]["io_bytes"] else j["read"]; print(round(d["iops"]), round(d["bw_bytes"]/1e6))' "$out/fio-nbd.json"
}
read -r v_nw32 _ < <(nbd_fio "nbd://127.0.0.1:$vnport" randwrite 4k 32)
read -r k_nw32 _ < <(nbd_fio "nbd://127.0.0.1:$knport" randwrite 4k 32)
read -r v_nr32 _ < <(nbd_fio "nbd://127.0.0.1:$vnport" randread 4k 32)
read -r k_nr32 _ < <(nbd_fio "nbd://127.0.0.1:$knport" randread 4k 32)
read -r _ v_nseq < <(nbd_fio "nbd://127.0.0.1:$vnport" read 1M 8)
read -r _ k_nseq < <(nbd_fio "nbd://127.0.0.1:$knport" read 1M 8)
ipport=$(free_port)
iperf3 -s -1 -p "$ipport" >/dev/null 2>&1 &
pids+=($!)
sleep 0.3
ceiling_mbs=$(iperf3 -c 127.0.0.1 -p "$ipport" -t "$secs" -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6))')

python3 - "$out/results.json" <<PY
import json, platform, os, sys
def row(name, unit, v, peers, goal):
    ref = list(peers.values())[0]
    ratio = round(v / ref, 2) if ref else 0.0
    return {"name": name, "unit": unit, "vstor": v, "peers": peers, "ratio": ratio, "goal": goal, "met": ratio >= goal}
rows = [
  row("iscsi-4k-randread-qd32", "IOPS", $v_rr32, {"tgt": $t_rr32}, 3.0),
  row("iscsi-4k-randread-qd1", "IOPS", $v_rr1, {"tgt": $t_rr1}, 1.0),
  row("iscsi-4k-write-qd32", "IOPS", $v_w32, {"tgt": $t_w32}, 3.0),
  row("iscsi-1m-seqread-qd8", "MB/s", $v_seq, {"tgt": $t_seq}, 1.7),
  row("iscsi-1m-seqread-qd8-vs-loopback", "MB/s", $v_seq, {"iperf3-loopback": $ceiling_mbs}, 0.9),
  row("nbd-4k-randread-qd32", "IOPS", $v_nr32, {"nbdkit-memory": $k_nr32}, 1.0),
  row("nbd-4k-randwrite-qd32", "IOPS", $v_nw32, {"nbdkit-memory": $k_nw32}, 1.0),
  row("nbd-1m-seqread-qd8", "MB/s", $v_nseq, {"nbdkit-memory": $k_nseq}, 1.0),
]
machine = f"{platform.machine()} {os.cpu_count()} cores, {platform.release()}"
json.dump({"machine": machine, "scenarios": rows}, open(sys.argv[1], "w"), indent=2)
print(f"{'scenario':36} {'unit':5} {'vstor':>9} {'peer':>9} {'ratio':>6} {'goal':>5} met")
for r in rows:
    peer = list(r["peers"].values())[0]
    print(f"{r['name']:36} {r['unit']:5} {r['vstor']:>9} {peer:>9} {r['ratio']:>6} {r['goal']:>5} {'yes' if r['met'] else 'no'}")
PY
