#!/usr/bin/env bash
# `make bench`: vstor and its peers measured in the same run on loopback, driven by the same
# clients, printed as a table of ratios and written to build/bench/results.json.
#   iSCSI: vstor (mem and null LUNs) vs tgt (Debian's tgtd, file LUN in /dev/shm, bs rdwr):
#          iscsi-perf 4 KiB random read at QD 1/8/32/128 and 1 MiB sequential read at QD 8;
#          qemu-img bench 4 KiB writes at QD 32; vstor-bench-iscsi (bench/iscsi_mixed.cpp) 64 KiB
#          random 70/30 read/write at QD 32; 1, 4 and 16 concurrent sessions.
#   NBD:   vstor (--nbd-listen on the same mem LUN) vs `nbdkit memory`, fio's nbd engine: 4 KiB
#          random read and random write at QD 32, 1 MiB sequential read at QD 8.
#   Ceiling: iperf3 single stream on loopback.
#   Memory: peak RSS of vstor serving a 1 GiB mem LUN after 100 MiB of scattered 4 KiB writes;
#          RSS per idle session; peak RSS with 64 x 64 MiB half-sent writes against the write
#          buffer budget + 100 MiB (bench/write_budget.py).
#   Scaling: vstor with 2 event-loop threads vs 1, four sessions.
# Every scenario with a goal runs BENCH_ROUNDS times (default 3), vstor and its peer back to
# back, and each side's best run counts (all runs are in results.json): this VM drifts.
set -euo pipefail
vstor=${1:?path to vstor}
mkdir -p "${2:?output directory}"
out=$(cd "$2" && pwd)
client=${3:-$(dirname "$vstor")/vstor-bench-iscsi}
secs=${BENCH_SECONDS:-8}
pids=()
cleanup() {
  # tgtd ignores SIGTERM while it has targets configured: stop everything with SIGKILL.
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -f /dev/shm/vstor-bench-tgt.img
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; return 1; }
iqn=iqn.2026-11.org.vstor:bench
serve_vstor() {  # serve_vstor PORT EXTRA... -> pid in $served
  local port=$1; shift
  "$vstor" serve --control off --listen 127.0.0.1:$port --target $iqn --log-level warn "$@" >>"$out/vstor.log" 2>&1 &
  served=$!
  pids+=($served)
  wait_port "$port"
}

# --- peers -------------------------------------------------------------------------------------
vport=$(free_port)
vnport=$(free_port)
serve_vstor $vport --nbd-listen 127.0.0.1:$vnport --lun mem:1G --lun null:1G
vpid=$served
vurl=iscsi://127.0.0.1:$vport/$iqn/0
vnull=iscsi://127.0.0.1:$vport/$iqn/1

tport=$(free_port)
pkill -9 -f -- "--control-port 7" 2>/dev/null || true  # a tgtd left over from an interrupted run
truncate -s 1G /dev/shm/vstor-bench-tgt.img
tgtd -f --iscsi portal=127.0.0.1:$tport --control-port 7 >"$out/tgt.log" 2>&1 &
tpid=$!
pids+=($tpid)
sleep 1
tgtadm -C 7 --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.org.vstor:tgt-peer
tgtadm -C 7 --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b /dev/shm/vstor-bench-tgt.img --bstype rdwr
tgtadm -C 7 --lld iscsi --op bind --mode target --tid 1 -I ALL
turl=iscsi://127.0.0.1:$tport/iqn.2026-11.org.vstor:tgt-peer/1
knport=$(free_port)
nbdkit -f -i 127.0.0.1 -p "$knport" memory 1G >"$out/nbdkit.log" 2>&1 &
kpid=$!
pids+=($kpid)
sleep 0.5

# CPU of both sides, so a missed goal shows where the time went: `metered KEY SERVER_PID CMD...`
# runs CMD (its stdout passes through) and appends "KEY client-cores target-cores" to cpu.txt —
# cores = CPU seconds / wall seconds, so 1.0 is one core kept busy for the whole run.
: >"$out/cpu.txt"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metered() {
  local key=$1 spid=$2; shift 2
  local s0 t0 s1 t1
  s0=$(ticks "$spid"); t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$out/time-$key.txt" "$@"
  s1=$(ticks "$spid"); t1=$(date +%s.%N)
  python3 -c 'import sys; u, s = map(float, open(sys.argv[1]).read().split()[-2:]); w = float(sys.argv[4]) - float(sys.argv[3])
print(sys.argv[2], round((u + s) / w, 2), round((int(sys.argv[6]) - int(sys.argv[5])) / int(sys.argv[7]) / w, 2))' \
    "$out/time-$key.txt" "$key" "$t0" "$t1" "$s0" "$s1" "$(getconf CLK_TCK)" >>"$out/cpu.txt"
}

# iscsi-perf prints "iops average N (M MB/s)" when its timeout ends.
perf() {  # perf KEY SERVER_PID URL QD BLOCKS [-r] -> "IOPS MBps"
  local key=$1 spid=$2 url=$3 qd=$4 blocks=$5; shift 5
  metered "$key" "$spid" iscsi-perf -m "$qd" -b "$blocks" -t "$secs" "$@" "$url" 2>&1 | tr '\r' '\n' |
    awk '/iops average/ {i=$3; m=$4} END {gsub(/\(/,"",m); print i+0, m+0}'
}
sessions() {  # sessions URL N: N concurrent iscsi-perf sessions, 4 KiB random read at QD 8 each -> total IOPS
  local url=$1 n=$2 i
  for i in $(seq "$n"); do
    iscsi-perf -i "iqn.2026-12.org.vstor:bench-s$i" -m 8 -b 8 -t "$secs" -r "$url" >"$out/sess-$i.txt" 2>&1 &
  done
  wait $(jobs -p | tail -n "$n")
  for i in $(seq "$n"); do tr '\r' '\n' <"$out/sess-$i.txt" | awk '/iops average/ {v=$3} END {print v+0}'; done |
    awk '{s+=$1} END {print s+0}'
}
qemu_write_iops() {  # qemu_write_iops KEY SERVER_PID URL: 4 KiB writes at QD 32 through QEMU's iSCSI driver
  local key=$1 spid=$2 url=$3 n=200000
  local t
  t=$(metered "$key" "$spid" qemu-img bench -f raw -w -t none -c $n -d 32 -s 4k "$url" 2>&1 | awk '/Run completed in/ {print $4}')
  python3 -c "print(round($n / $t))"
}
mixed() { metered "$1" "$2" "$client" "$3" 65536 32 70 "$secs"; }  # mixed KEY SERVER_PID URL -> "IOPS MBps"
rss_kib() { awk '/VmRSS/ {print $2}' /proc/$1/status; }

# This VM's speed drifts within minutes (see docs/performance.md), so every scenario with a goal
# is measured BENCH_ROUNDS times (default 3), vstor and its peer back to back in each round (who
# goes first alternates), and each side's best run counts; results.json keeps every run.
rounds=${BENCH_ROUNDS:-3}
round=1
: >"$out/samples.txt"
sample() { echo "$1 $round ${2:-0}" >>"$out/samples.txt"; }  # sample KEY VALUE: one run
order() { if [ $((round % 2)) = 1 ]; then echo "$1 $2"; else echo "$2 $1"; fi; }  # who goes first alternates
# pair NAME PEER COLUMN FN VSTOR_URL PEER_URL ARGS...: runs `FN KEY PID URL ARGS...` against vstor
# and against the peer (t = tgt, k = nbdkit) in this round's order, and samples column COLUMN of
# its output as v_NAME and PEER_NAME.
pair() {
  local name=$1 peer=$2 col=$3 fn=$4 vu=$5 pu=$6 side pid url pidvar; shift 6
  for side in $(order v "$peer"); do
    if [ "$side" = v ]; then pid=$vpid url=$vu; else pidvar=${peer}pid; pid=${!pidvar} url=$pu; fi
    sample "${side}_$name" "$("$fn" "${side}_$name.$round" "$pid" "$url" "$@" | cut -d' ' -f"$col")"
  done
}
iscsi_pair() {  # iscsi_pair NAME QD BLOCKS [-r]: iscsi-perf, IOPS for 4 KiB, MB/s otherwise
  local name=$1 col=$([ "$3" = 8 ] && echo 1 || echo 2); shift
  pair "$name" t "$col" perf "$vurl" "$turl" "$@"
}
ipport=$(free_port)
iperf3 -s -p "$ipport" >/dev/null 2>&1 &
pids+=($!)
ceiling() { iperf3 -c 127.0.0.1 -p "$ipport" -t "$secs" -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6))'; }

echo "measuring (each ${secs}s, goals ${rounds} rounds)..."
for round in $(seq "$rounds"); do
  iscsi_pair rr1 1 8 -r
  iscsi_pair rr32 32 8 -r
  sample v_null32 "$(perf v_null32.$round $vpid "$vnull" 32 8 -r | cut -d' ' -f1)"
  iscsi_pair seq 8 2048
  sample ceiling "$(ceiling)"  # next to the sequential read it is compared with
  pair w32 t 1 qemu_write_iops "$vurl" "$turl"
done
round=1
iscsi_pair rr8 8 8 -r
iscsi_pair rr128 128 8 -r
pair mix t 1 mixed "$vurl" "$turl"
for n in 1 4 16; do
  sample v_s$n "$(sessions "$vurl" $n)"
  sample t_s$n "$(sessions "$turl" $n)"
done

# fio's nbd engine (libnbd): prints IOPS and MB/s of the one job.
nbd_fio() {  # nbd_fio KEY SERVER_PID URI RW BS QD -> "IOPS MBps"
  local key=$1 spid=$2; shift 2
  (cd "$out" && metered "$key" "$spid" fio --name=bench --ioengine=nbd --uri="$1" --rw="$2" --bs="$3" --iodepth="$4" --size=1G \
      --time_based --runtime="$secs" --output-format=json --output="$out/fio-nbd.json" >/dev/null 2>&1)
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; d=j["write"] if j["write"]["io_bytes"] else j["read"]; print(round(d["iops"]), round(d["bw_bytes"]/1e6))' "$out/fio-nbd.json"
}
nbd_pair() {  # nbd_pair NAME RW BS QD COLUMN: fio against vstor and nbdkit
  pair "$1" k "$5" nbd_fio "nbd://127.0.0.1:$vnport" "nbd://127.0.0.1:$knport" "$2" "$3" "$4"
}
for round in $(seq "$rounds"); do nbd_pair nw32 randwrite 4k 32 1; done
# The reads below run on disks with the same content: the random writes above leave each server
# with a different share of holes (they ran at different speeds), and a hole reads as a memset
# where stored data is a copy from memory the cache does not hold. Fill the whole 1 GiB first.
nbd_fill() { fio --name=fill --ioengine=nbd --uri="$1" --rw=write --bs=1M --iodepth=8 --size=1G >/dev/null 2>&1; }
nbd_fill "nbd://127.0.0.1:$vnport"
nbd_fill "nbd://127.0.0.1:$knport"
for round in $(seq "$rounds"); do
  nbd_pair nr32 randread 4k 32 1
  nbd_pair nseq read 1M 8 2
done
round=1

echo "memory..."
mport=$(free_port)
serve_vstor $mport --lun mem:1G --loops 1
mpid=$served
murl=iscsi://127.0.0.1:$mport/$iqn/0
# 25,600 writes of 4 KiB, 40 KiB apart: 100 MiB written, scattered over the whole 1 GiB.
qemu-img bench -f raw -w -t none -c 25600 -d 32 -s 4k -S 40960 "$murl" >/dev/null 2>&1
m_peak=$(( $(awk '/VmHWM/ {print $2}' /proc/$mpid/status) / 1024 ))
idle0=$(rss_kib $mpid)
for i in $(seq 16); do "$client" "$murl" 4096 1 idle $((secs + 5)) >/dev/null 2>&1 & done
sleep 3
idle16=$(rss_kib $mpid)
m_per_conn=$(( (idle16 - idle0) / 16 ))
wait $(jobs -p | tail -n 16) 2>/dev/null || true

echo "write buffer budget..."
# 64 x 64 MiB WRITEs over 4 raw-PDU sessions, half their data sent: peak RSS vs the budget.
python3 "$(dirname "$0")/write_budget.py" "$vstor" "$out/write-budget.json"

echo "event-loop scaling..."
for loops in 1 2; do
  lport=$(free_port)
  serve_vstor $lport --lun mem:1G --loops $loops
  sample v_loops$loops "$(sessions "iscsi://127.0.0.1:$lport/$iqn/0" 4)"
  kill $served; wait $served 2>/dev/null || true
done

python3 - "$out/results.json" "$out/cpu.txt" "$out/samples.txt" "$out/write-budget.json" <<PY
import json, platform, os, sys
cpu = {}
for line in open(sys.argv[2]):
    key, client, target = line.split()
    cpu[key] = {"client_cores": float(client), "target_cores": float(target)}
samples = {}
for line in open(sys.argv[3]):
    key, rnd, value = line.split()
    samples.setdefault(key, []).append((int(rnd), round(float(value))))
def measure(x):
    """A sample key's best run: (value, every run, CPU of the best run); a number stands for itself."""
    if not isinstance(x, str):
        return x, None, None
    runs = samples.get(x, [(1, 0)])
    rnd, v = max(runs, key=lambda r: r[1])
    return v, [r[1] for r in runs], cpu.get(f"{x}.{rnd}")
def row(name, unit, v, peers, goal, lower_is_better=False):
    v, v_runs, v_cpu = measure(v)
    (peer, p), = peers.items()
    ref, p_runs, p_cpu = measure(p)
    ratio = round(v / ref, 2) if ref else 0.0
    met = None if goal is None else (ratio <= goal if lower_is_better else ratio >= goal)
    r = {"name": name, "unit": unit, "vstor": v, "peers": {peer: ref}, "ratio": ratio, "goal": goal, "met": met}
    if v_runs and len(v_runs) > 1:
        r["runs"] = {"vstor": v_runs, peer: p_runs}
    if v_cpu:  # CPU of client and target in vstor's best run and in the peer's
        r["cpu"] = {"vstor": v_cpu}
        if p_cpu:
            r["cpu"][peer] = p_cpu
        # A single-threaded client using (nearly) a whole core cannot go faster whatever the target does.
        r["bound"] = "client" if v_cpu["client_cores"] >= 0.9 else None
    return r
rows = [
  row("iscsi-4k-randread-qd1", "IOPS", "v_rr1", {"tgt": "t_rr1"}, 1.0),
  row("iscsi-4k-randread-qd8", "IOPS", "v_rr8", {"tgt": "t_rr8"}, None),
  row("iscsi-4k-randread-qd32", "IOPS", "v_rr32", {"tgt": "t_rr32"}, 3.0),
  row("iscsi-4k-randread-qd128", "IOPS", "v_rr128", {"tgt": "t_rr128"}, None),
  row("iscsi-4k-randread-qd32-null-lun", "IOPS", "v_null32", {"tgt": "t_rr32"}, 3.0),
  row("iscsi-4k-write-qd32", "IOPS", "v_w32", {"tgt": "t_w32"}, 3.0),
  row("iscsi-64k-randrw-70-30-qd32", "IOPS", "v_mix", {"tgt": "t_mix"}, None),
  row("iscsi-1m-seqread-qd8", "MB/s", "v_seq", {"tgt": "t_seq"}, 1.7),
  row("iscsi-1m-seqread-qd8-vs-loopback", "MB/s", "v_seq", {"iperf3-loopback": "ceiling"}, 0.9),
  row("iscsi-4k-randread-1-session", "IOPS", "v_s1", {"tgt": "t_s1"}, None),
  row("iscsi-4k-randread-4-sessions", "IOPS", "v_s4", {"tgt": "t_s4"}, None),
  row("iscsi-4k-randread-16-sessions", "IOPS", "v_s16", {"tgt": "t_s16"}, None),
  row("iscsi-4-sessions-2-loops-vs-1-loop", "IOPS", "v_loops2", {"vstor-1-loop": "v_loops1"}, None),
  row("nbd-4k-randread-qd32", "IOPS", "v_nr32", {"nbdkit-memory": "k_nr32"}, 1.2),
  row("nbd-4k-randwrite-qd32", "IOPS", "v_nw32", {"nbdkit-memory": "k_nw32"}, 1.2),
  row("nbd-1m-seqread-qd8", "MB/s", "v_nseq", {"nbdkit-memory": "k_nseq"}, 1.2),
  row("memory-peak-rss-1g-mem-lun-100m-written", "MiB", $m_peak, {"data-written": 100}, 1.5, lower_is_better=True),
  row("memory-rss-per-idle-session", "KiB", $m_per_conn, {"1-MiB": 1024}, 1.0, lower_is_better=True),
]
# Half-sent writes: peak RSS against the total write buffer budget + 100 MiB (bench/write_budget.py).
wb = json.load(open(sys.argv[4]))
rows.append(row("memory-peak-rss-64x64m-half-sent-writes", "MiB", round(wb["peak_rss_mib"]),
                {"write-budget-plus-100-MiB": wb["limit_mib"]}, 1.0, lower_is_better=True))
rows[-1]["write_budget"] = wb
machine = f"{platform.machine()} {os.cpu_count()} cores, {platform.release()}"
json.dump({"machine": machine, "scenarios": rows}, open(sys.argv[1], "w"), indent=2)
def cores(r, side):
    c = r.get("cpu", {}).get(side)
    return f"{c['client_cores']:.2f}/{c['target_cores']:.2f}" if c else "-"
print(f"{'scenario':42} {'unit':5} {'vstor':>9} {'peer':>9} {'ratio':>6} {'goal':>5} {'met':4} "
      f"{'cpu c/t':>9} {'peer c/t':>9}")
for r in rows:
    peer = list(r["peers"].values())[0]
    goal = "-" if r["goal"] is None else r["goal"]
    met = "-" if r["met"] is None else ("yes" if r["met"] else "no")
    note = "  client-bound" if r.get("bound") == "client" and r["met"] is False else ""
    print(f"{r['name']:42} {r['unit']:5} {r['vstor']:>9} {peer:>9} {r['ratio']:>6} {goal:>5} {met:4} "
          f"{cores(r, 'vstor'):>9} {cores(r, list(r['peers'])[0]):>9}{note}")
print("cpu c/t: cores used by the client / by the target during the run (1.00 = one core busy all along)")
for r in rows:
    if "runs" in r:
        print(f"  {r['name']}: " + "; ".join(f"{side} {', '.join(map(str, v))}" for side, v in r["runs"].items()))
PY
