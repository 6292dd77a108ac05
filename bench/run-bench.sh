#!/usr/bin/env bash
# `make bench`: vstor and its peers measured in the same run on loopback, driven by the same
# clients, printed as a table of ratios and written to build/bench/results.json.
#   iSCSI: vstor (mem and null LUNs) vs tgt (Debian's tgtd, file LUN in /dev/shm, bs rdwr, and
#          for the scenarios with a goal also bs aio on its own file):
#          iscsi-perf 4 KiB random read at QD 1/8/32/128 and 1 MiB sequential read at QD 8;
#          qemu-img bench 4 KiB writes at QD 32; vstor-bench-iscsi (bench/iscsi_mixed.cpp) 64 KiB
#          random 70/30 read/write at QD 32; 1, 4 and 16 concurrent sessions.
#   NBD:   vstor (--nbd-listen on the same mem LUN) vs `nbdkit memory` and qemu-nbd (a raw file in
#          /dev/shm), fio's nbd engine: 4 KiB random read and random write at QD 32, 1 MiB
#          sequential read at QD 8.
#   File:  vstor's file backend vs tgt (bs rdwr and bs aio) serving the same prefilled 1 GiB file,
#          one in /dev/shm and one in the output directory's file system: 4 KiB random read at
#          QD 1 and 32 (iscsi-perf), 4 KiB random write at QD 32 (vstor-bench-iscsi), 1 MiB
#          sequential read at QD 8 against the loopback ceiling.
#   Two clients: the 4 KiB QD32 scenarios of iSCSI (read, write; vs tgt aio) and NBD (vs nbdkit and
#          qemu-nbd) again from two client processes on two connections at QD 16 each; iSCSI reads
#          also with the writes' client (vstor-bench-iscsi), for the write/read CPU ratio.
#   Ceiling: iperf3 single stream on loopback, 1 MiB writes (-l 1M).
#   Memory: peak RSS of vstor serving a 1 GiB mem LUN after 100 MiB of scattered 4 KiB writes;
#          RSS per idle session; peak RSS with 64 x 64 MiB half-sent writes against the write
#          buffer budget + 100 MiB (bench/write_budget.py).
#   Scaling: vstor with 2 event-loop threads vs 1, four sessions.
#   DBDisk: examples/dbdisk (a SQLite disk as a plugin) beside a mem LUN of the same size in the
#          same vstor, both filled with the same 256 MiB first: 4 KiB random read (iscsi-perf) and
#          random write (vstor-bench-iscsi) at QD 32, with the target's CPU per I/O.
#   RBD:   vstor vs tgt's RBD store (tgt-rbd) and `rbd bench` on one image of a throwaway Ceph
#          cluster (bench/rbd-group.sh): 4 KiB random read and write at QD 32, 1 MiB read at QD 8.
# BENCH_GROUPS picks what runs (default all): iscsi nbd file memory scaling dbdisk rbd.
# Every scenario with a goal runs BENCH_ROUNDS times (default 3), vstor and its peers back to
# back, and each side's best run counts (all runs are in results.json): this VM drifts.
# Beside the IOPS ratios: the target's CPU per I/O (per MiB for 1 MiB I/O), median and spread
# over the rounds, against the peer that needs the least; runs whose client kept a core busy are
# marked client-bound.
set -euo pipefail
vstor=${1:?path to vstor}
mkdir -p "${2:?output directory}"
out=$(cd "$2" && pwd)
client=${3:-$(dirname "$vstor")/vstor-bench-iscsi}
secs=${BENCH_SECONDS:-8}
groups=" ${BENCH_GROUPS:-iscsi nbd file memory scaling dbdisk rbd} "
want() { [[ $groups == *" $1 "* ]]; }
# The two files the file scenarios serve: one in RAM, one on the output directory's file system.
# Names carry the run's pid and tgtd gets its own control port, so two benches at once (or a bench
# beside a test) neither share files nor kill each other's tgtd.
run=$$
tctl=$((run % 30000 + 1000))
shm_img=/dev/shm/vstor-bench-file.$run.img
disk_img=$out/vstor-bench-file.$run.img
tgt_img=/dev/shm/vstor-bench-tgt.$run.img
tgt_aio_img=/dev/shm/vstor-bench-tgt-aio.$run.img
qemu_img=/dev/shm/vstor-bench-qemu.$run.img
pids=()
cleanup() {
  # tgtd ignores SIGTERM while it has targets configured: stop everything with SIGKILL.
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -f "$tgt_img" "$tgt_aio_img" "$qemu_img" "$shm_img" "$disk_img"
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
# The file scenarios' files are filled with random bytes first (a hole reads as zeroes without
# touching data), then served by vstor (LUNs 2 and 3) and by tgt, one side driven at a time.
file_luns=()
if want file; then
  head -c 1G /dev/urandom >"$shm_img"
  cp "$shm_img" "$disk_img"
  sync "$disk_img"
  file_luns=(--lun "file:$shm_img" --lun "file:$disk_img")
fi
vport=$(free_port)
vnport=$(free_port)
serve_vstor $vport --nbd-listen 127.0.0.1:$vnport --lun mem:1G --lun null:1G "${file_luns[@]}"
vpid=$served
vurl=iscsi://127.0.0.1:$vport/$iqn/0
vnull=iscsi://127.0.0.1:$vport/$iqn/1
# The iSCSI reads run on written disks on every side: an unwritten block of a mem LUN reads as a
# memset and a hole in tgt's tmpfs files as the zero page, where stored data is a copy from memory
# the cache does not hold (the NBD group fills its disks for the same reason, and serves LUN 0).
if want iscsi; then
  head -c 1G /dev/urandom >"$tgt_img"
  cp "$tgt_img" "$tgt_aio_img"
  qemu-img convert -n -f raw -O raw "$tgt_img" "$vurl"
fi

tport=$(free_port)
[ -e "$tgt_img" ] || truncate -s 1G "$tgt_img" "$tgt_aio_img"
tgtd -f --iscsi portal=127.0.0.1:$tport --control-port $tctl >"$out/tgt.log" 2>&1 &
tpid=$!
pids+=($tpid)
sleep 1
tgtadm -C $tctl --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.org.vstor:tgt-peer
tgtadm -C $tctl --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$tgt_img" --bstype rdwr
tgtadm -C $tctl --lld iscsi --op bind --mode target --tid 1 -I ALL
# tgt's other store for small I/O (Linux AIO), on its own file in the same tgtd.
tgtadm -C $tctl --lld iscsi --op new --mode target --tid 2 -T iqn.2026-11.org.vstor:tgt-aio
tgtadm -C $tctl --lld iscsi --op new --mode logicalunit --tid 2 --lun 1 -b "$tgt_aio_img" --bstype aio
tgtadm -C $tctl --lld iscsi --op bind --mode target --tid 2 -I ALL
# The file scenarios' peers: rdwr and aio on each of the two files vstor serves too.
tgt_lun() {  # tgt_lun TID NAME FILE BSTYPE
  tgtadm -C $tctl --lld iscsi --op new --mode target --tid "$1" -T "iqn.2026-11.org.vstor:$2"
  tgtadm -C $tctl --lld iscsi --op new --mode logicalunit --tid "$1" --lun 1 -b "$3" --bstype "$4"
  tgtadm -C $tctl --lld iscsi --op bind --mode target --tid "$1" -I ALL
}
if want file; then
  tgt_lun 3 tgt-shm "$shm_img" rdwr
  tgt_lun 4 tgt-shm-aio "$shm_img" aio
  tgt_lun 5 tgt-disk "$disk_img" rdwr
  tgt_lun 6 tgt-disk-aio "$disk_img" aio
fi
turl=iscsi://127.0.0.1:$tport/iqn.2026-11.org.vstor:tgt-peer/1
aurl=iscsi://127.0.0.1:$tport/iqn.2026-11.org.vstor:tgt-aio/1
apid=$tpid
knport=$(free_port)
nbdkit -f -i 127.0.0.1 -p "$knport" memory 1G >"$out/nbdkit.log" 2>&1 &
kpid=$!
pids+=($kpid)
# QEMU's own NBD server over a raw file in /dev/shm (page cache, like a mem LUN).
qnport=$(free_port)
truncate -s 1G "$qemu_img"
qemu-nbd -f raw -t -b 127.0.0.1 -p "$qnport" --shared=16 "$qemu_img" >"$out/qemu-nbd.log" 2>&1 &
qpid=$!
pids+=($qpid)
wait_port "$knport"
wait_port "$qnport"

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
# The single-threaded clients keep a core busy before the target does, so the QD32 scenarios also
# run as two client processes on two sessions (connections), QD 16 each: the same 32 commands in
# flight, with up to two cores of client. `two KEY SERVER_PID CMD...` runs CMD twice at once
# ("{i}" in an argument becomes 1 and 2), output in $out/KEY.1.out and .2.out, metered as one client.
two() {
  local key=$1 spid=$2; shift 2
  metered "$key" "$spid" bash -c 'for i in 1 2; do "${@//\{i\}/$i}" >"$0.$i.out" 2>&1 & done; wait' "$out/$key" "$@"
}
sum2() { cat "$out/$1".[12].out | awk '{i += $1; m += $2} END {print i + 0, m + 0}'; }  # sum2 KEY -> "IOPS MBps"
perf2() {  # perf2 KEY SERVER_PID URL QD BLOCKS [-r]: iscsi-perf twice at QD/2 -> summed "IOPS MBps"
  local key=$1 spid=$2 url=$3 qd=$4 blocks=$5; shift 5
  two "$key" "$spid" iscsi-perf -i "iqn.2026-12.org.vstor:bench-c{i}" -m $((qd / 2)) -b "$blocks" -t "$secs" "$@" "$url"
  cat "$out/$key".[12].out | tr '\r' '\n' | awk '/iops average/ {i += $3; m = $4; gsub(/\(/, "", m); t += m} END {print i + 0, t + 0}'
}
# rand2 KEY SERVER_PID URL READ_PERCENT: 4 KiB random I/O from 2 x vstor-bench-iscsi at QD 16. Its
# reads (100) set a write's CPU (0) against a read's with equal clients (iscsi-perf batches its
# reads differently from vstor-bench-iscsi).
rand2() { two "$1" "$2" "$client" "$3" 4096 16 "$4" "$secs"; sum2 "$1"; }
mixed() { metered "$1" "$2" "$client" "$3" 65536 32 70 "$secs"; }  # mixed KEY SERVER_PID URL -> "IOPS MBps"
randwrite() { metered "$1" "$2" "$client" "$3" 4096 32 0 "$secs"; }  # 4 KiB random writes at QD 32
rss_kib() { awk '/VmRSS/ {print $2}' /proc/$1/status; }

# This VM's speed drifts within minutes (see docs/performance.md), so every scenario with a goal
# is measured BENCH_ROUNDS times (default 3), vstor and its peer back to back in each round (who
# goes first alternates), and each side's best run counts; results.json keeps every run.
rounds=${BENCH_ROUNDS:-3}
round=1
: >"$out/samples.txt"
sample() { echo "$1 $round ${2:-0}" >>"$out/samples.txt"; }  # sample KEY VALUE: one run
order() {  # order SIDE...: the sides, rotated by the round, so that who goes first changes
  local sides=("$@") k=$(( (round - 1) % $# ))
  echo "${sides[@]:k}" "${sides[@]:0:k}"
}
# Sides: v = vstor, t = tgt rdwr, a = tgt aio, k = nbdkit, q = qemu-nbd.
declare -A side_pid=([v]=$vpid [t]=$tpid [a]=$apid [k]=$kpid [q]=$qpid)
declare -A side_url=([iscsi:v]=$vurl [iscsi:t]=$turl [iscsi:a]=$aurl
                     [shm:v]=iscsi://127.0.0.1:$vport/$iqn/2 [disk:v]=iscsi://127.0.0.1:$vport/$iqn/3
                     [shm:t]=iscsi://127.0.0.1:$tport/iqn.2026-11.org.vstor:tgt-shm/1
                     [shm:a]=iscsi://127.0.0.1:$tport/iqn.2026-11.org.vstor:tgt-shm-aio/1
                     [disk:t]=iscsi://127.0.0.1:$tport/iqn.2026-11.org.vstor:tgt-disk/1
                     [disk:a]=iscsi://127.0.0.1:$tport/iqn.2026-11.org.vstor:tgt-disk-aio/1
                     [nbd:v]=nbd://127.0.0.1:$vnport [nbd:k]=nbd://127.0.0.1:$knport [nbd:q]=nbd://127.0.0.1:$qnport)
# pair NAME PROTO "PEERS" COLUMN FN ARGS...: runs `FN KEY PID URL ARGS...` against vstor and each
# peer in this round's order, and samples column COLUMN of its output as v_NAME, t_NAME, ...
pair() {
  local name=$1 proto=$2 peers=$3 col=$4 fn=$5 side; shift 5
  for side in $(order v $peers); do
    sample "${side}_$name" "$("$fn" "${side}_$name.$round" "${side_pid[$side]}" "${side_url[$proto:$side]}" "$@" |
      cut -d' ' -f"$col")"
  done
}
iscsi_pair() {  # iscsi_pair NAME "PEERS" QD BLOCKS [-r]: iscsi-perf, IOPS for 4 KiB, MB/s otherwise
  local name=$1 peers=$2 col=$([ "$4" = 8 ] && echo 1 || echo 2); shift 2
  pair "$name" iscsi "$peers" "$col" perf "$@"
}
ipport=$(free_port)
iperf3 -s -p "$ipport" >/dev/null 2>&1 &
pids+=($!)
ceiling() { iperf3 -c 127.0.0.1 -p "$ipport" -l 1M -t "$secs" -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8e6))'; }

echo "measuring (each ${secs}s, goals ${rounds} rounds; groups:${groups})..."
if want iscsi; then
for round in $(seq "$rounds"); do
  iscsi_pair rr1 "t a" 1 8 -r
  iscsi_pair rr32 "t a" 32 8 -r
  sample v_null32 "$(perf v_null32.$round $vpid "$vnull" 32 8 -r | cut -d' ' -f1)"
  iscsi_pair seq "t a" 8 2048
  sample ceiling "$(ceiling)"  # next to the sequential read it is compared with
  pair w32 iscsi "t a" 1 qemu_write_iops
  pair rr32x2 iscsi a 1 perf2 32 8 -r
  pair w32x2 iscsi a 1 rand2 0
  pair rr32c2 iscsi a 1 rand2 100
done
round=1
iscsi_pair rr8 t 8 8 -r
iscsi_pair rr128 t 128 8 -r
pair mix iscsi t 1 mixed
for n in 1 4 16; do
  sample v_s$n "$(sessions "$vurl" $n)"
  sample t_s$n "$(sessions "$turl" $n)"
done
fi

# File LUNs: the same file served by vstor's file backend, tgt rdwr and tgt aio. The /dev/shm
# file runs BENCH_ROUNDS rounds (the goals); the one on disk BENCH_FILE_DISK_ROUNDS (default 1).
file_scenarios() {  # file_scenarios MEDIUM
  local m=$1
  pair "${m}_rr1" "$m" "t a" 1 perf 1 8 -r
  pair "${m}_rr32" "$m" "t a" 1 perf 32 8 -r
  pair "${m}_rw32" "$m" "t a" 1 randwrite
  pair "${m}_seq" "$m" "t a" 2 perf 8 2048
}
if want file; then
  for round in $(seq "$rounds"); do
    file_scenarios shm
    sample ceiling_file "$(ceiling)"
  done
  for round in $(seq "${BENCH_FILE_DISK_ROUNDS:-1}"); do file_scenarios disk; done
  round=1
fi

# fio's nbd engine (libnbd): prints IOPS and MB/s of the one job.
nbd_fio() {  # nbd_fio KEY SERVER_PID URI RW BS QD [JOBS] -> "IOPS MBps" (JOBS processes, a connection each)
  local key=$1 spid=$2; shift 2
  (cd "$out" && metered "$key" "$spid" fio --name=bench --ioengine=nbd --uri="$1" --rw="$2" --bs="$3" --iodepth="$4" --size=1G \
      --numjobs="${5:-1}" --group_reporting --time_based --runtime="$secs" --output-format=json --output="$out/fio-nbd.json" >/dev/null 2>&1)
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; d=j["write"] if j["write"]["io_bytes"] else j["read"]; print(round(d["iops"]), round(d["bw_bytes"]/1e6))' "$out/fio-nbd.json"
}
nbd_pair() {  # nbd_pair NAME RW BS QD COLUMN [JOBS]: fio against vstor, nbdkit and qemu-nbd
  pair "$1" nbd "k q" "$5" nbd_fio "$2" "$3" "$4" "${6:-1}"
}
if want nbd; then
for round in $(seq "$rounds"); do
  nbd_pair nw32 randwrite 4k 32 1
  nbd_pair nw32x2 randwrite 4k 16 1 2
done
# The reads below run on disks with the same content: the random writes above leave each server
# with a different share of holes (they ran at different speeds), and a hole reads as a memset
# where stored data is a copy from memory the cache does not hold. Fill the whole 1 GiB first.
nbd_fill() { fio --name=fill --ioengine=nbd --uri="$1" --rw=write --bs=1M --iodepth=8 --size=1G >/dev/null 2>&1; }
nbd_fill "nbd://127.0.0.1:$vnport"
nbd_fill "nbd://127.0.0.1:$knport"
nbd_fill "nbd://127.0.0.1:$qnport"
for round in $(seq "$rounds"); do
  nbd_pair nr32 randread 4k 32 1
  nbd_pair nr32x2 randread 4k 16 1 2
  nbd_pair nseq read 1M 8 2
done
round=1
fi

m_peak=0 m_per_conn=0
rm -f "$out/write-budget.json"
if want memory; then
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
fi

if want scaling; then
echo "event-loop scaling..."
for loops in 1 2; do
  lport=$(free_port)
  serve_vstor $lport --lun mem:1G --loops $loops
  sample v_loops$loops "$(sessions "iscsi://127.0.0.1:$lport/$iqn/0" 4)"
  kill $served; wait $served 2>/dev/null || true
done
fi

# DBDisk against a mem LUN in a vstor of their own; d = DBDisk (the "vstor" column), m = mem LUN.
if want dbdisk; then
echo "dbdisk..."
dport=$(free_port)
rm -f "$out"/bench.db*
serve_vstor $dport --lun mem:256M --lun "plugin:$(dirname "$vstor")/examples/dbdisk/dbdisk.so,file=$out/bench.db,size=256M"
dpid=$served
head -c 256M /dev/urandom >"$out/dbfill.img"
for lun in 0 1; do qemu-img convert -n -f raw -O raw "$out/dbfill.img" "iscsi://127.0.0.1:$dport/$iqn/$lun"; done
rm -f "$out/dbfill.img"
for round in $(seq "$rounds"); do
  for side in $(order v m); do
    durl=iscsi://127.0.0.1:$dport/$iqn/$([ "$side" = v ] && echo 1 || echo 0)
    sample "${side}_db_rr32" "$(perf "${side}_db_rr32.$round" $dpid "$durl" 32 8 -r | cut -d' ' -f1)"
    sample "${side}_db_rw32" "$(randwrite "${side}_db_rw32.$round" $dpid "$durl" | cut -d' ' -f1)"
  done
done
round=1
kill $dpid; wait $dpid 2>/dev/null || true
rm -f "$out"/bench.db*
fi

# RBD: a throwaway Ceph cluster, vstor vs tgt-rbd vs `rbd bench` on one image (bench/rbd-group.sh).
if want rbd; then . "$(dirname "$0")/rbd-group.sh"; fi

python3 "$(dirname "$0")/report.py" "$out/results.json" "$out/cpu.txt" "$out/samples.txt" "$out/write-budget.json" \
  "$m_peak" "$m_per_conn"
