# The `rbd` group of `make bench` (issue 16 §5), sourced by run-bench.sh (it uses its helpers:
# metered, perf, randwrite, pair, sample, pids, out, secs, rounds, run, tctl).
# One throwaway cluster (tests/ceph/ceph_cluster.py: 1 mon, 1 mgr, 1 memstore OSD on 127.0.0.1)
# holds one 1 GiB image, filled first so that reads touch data. On that image, in alternating
# rounds: vstor (`--lun rbd:`) and tgt's RBD store (tgt-rbd, `--bstype rbd`) over iSCSI with the
# same clients, and `rbd bench` straight to the cluster (the ceiling: librbd with no iSCSI).
# Sides: v = vstor, t = tgt-rbd, b = rbd bench. Scenarios: 4 KiB random read and write at QD 32,
# 1 MiB sequential read at QD 8. rbd bench's "target" CPU is its own (it is the librbd client
# that vstor and tgtd also are), so cpu/op compares the gateways with librbd's own cost.
echo "rbd (throwaway Ceph cluster)..."
# 3 scenarios x 3 sides x BENCH_ROUNDS runs: BENCH_RBD_SECONDS (default 5) each keeps the group at
# about 3 minutes with the cluster's start and stop.
secs_main=$secs
secs=${BENCH_RBD_SECONDS:-5}
rbd_fixture=$(cd "$(dirname "$0")/../tests/ceph" && pwd)/ceph_cluster.py
rbd_hold=$out/ceph-hold.$run
rbd_image=rbd/bench
rm -f "$rbd_hold.ready"
: >"$rbd_hold"
# The fixture's command just holds the cluster until the hold file goes; the daemons die with the
# fixture (PR_SET_PDEATHSIG) if this script is killed.
python3 "$rbd_fixture" --dir "$out/ceph" --image "$rbd_image:1G" --start-timeout 300 --timeout 3600 -- \
  bash -c 'echo "$CEPH_CONF" >"$1.ready"; while [ -e "$1" ]; do sleep 0.2; done' _ "$rbd_hold" \
  >"$out/ceph-fixture.log" 2>&1 &
rbd_fixture_pid=$!
pids+=($rbd_fixture_pid)
until [ -s "$rbd_hold.ready" ]; do
  kill -0 $rbd_fixture_pid 2>/dev/null || { cat "$out/ceph-fixture.log"; echo "rbd: the cluster did not start" >&2; exit 1; }
  sleep 0.5
done
rbd_conf=$(cat "$rbd_hold.ready")
rbd_t0=$(date +%s)
# Fill the whole image (4 MiB writes, one object each): an object never written reads as zeroes
# in the client without an OSD round trip.
rbd -c "$rbd_conf" bench --io-type write --io-size 4M --io-threads 8 --io-pattern seq --io-total 1G "$rbd_image" \
  >"$out/rbd-fill.txt" 2>&1
echo "  cluster ready, image filled in $(( $(date +%s) - rbd_t0 )) s (load: $(cut -d' ' -f1-3 /proc/loadavg))"

rport=$(free_port)
serve_vstor $rport --lun "rbd:$rbd_image,conf=$rbd_conf"
rbd_vpid=$served
# tgt-rbd: its own tgtd (the one above has no cluster), which finds the cluster through CEPH_CONF
# (bs_rbd reads librados' default search) and --bsopts conf=.
rtport=$(free_port)
rtctl=$(( (run + 15000) % 30000 + 1000 ))
CEPH_CONF=$rbd_conf tgtd -f --iscsi portal=127.0.0.1:$rtport --control-port $rtctl >"$out/tgt-rbd.log" 2>&1 &
rbd_tpid=$!
pids+=($rbd_tpid)
wait_port "$rtport"
tgtadm -C $rtctl --lld iscsi --op new --mode target --tid 1 -T iqn.2026-11.org.vstor:tgt-rbd
tgtadm -C $rtctl --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 --bstype rbd --backing-store "$rbd_image" \
  --bsopts "conf=$rbd_conf"
tgtadm -C $rtctl --lld iscsi --op bind --mode target --tid 1 -I ALL

# rbd bench runs a number of I/Os, not a time: each run asks for what the last one did in `secs`.
declare -A rbd_rate=([rr32]=2000 [rw32]=500 [seq]=100)
rbd_bench_run() {  # rbd_bench_run KEY SCENARIO -> "IOPS MBps"; CPU: rbd bench's own, as client and target
  local key=$1 scn=$2 type=read pattern=rand size=4096 threads=32 ops t t0 iops
  [ "$scn" = rw32 ] && type=write
  [ "$scn" = seq ] && pattern=seq size=1048576 threads=8
  ops=$(python3 -c "print(max(int(${rbd_rate[$scn]} * $secs), 64))")
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$out/time-$key.txt" rbd -c "$rbd_conf" bench --io-type $type --io-pattern $pattern \
    --io-size $size --io-threads $threads --io-total $((ops * size)) "$rbd_image" >"$out/rbd-bench.txt" 2>&1
  t=$(python3 -c "import time; print(time.time() - $t0)")
  # rbd bench's own summary, "elapsed: S ops: N ops/sec: R bytes/sec: ..."
  iops=$(awk '/^elapsed:/ {print $6}' "$out/rbd-bench.txt")
  rbd_rate[$scn]=${iops%.*}
  python3 -c 'import sys; u, s = map(float, open(sys.argv[1]).read().split()[-2:]); c = round((u + s) / float(sys.argv[3]), 2)
print(sys.argv[2], c, c)' "$out/time-$key.txt" "$key" "$t" >>"$out/cpu.txt"
  python3 -c "print(round($iops), round($iops * $size / 1e6))"
}
rbd_side() {  # rbd_side KEY PID URL SCENARIO -> "IOPS MBps": the scenario's client for this side
  local key=$1 spid=$2 url=$3 scn=$4
  # The side before may have moved the image's exclusive lock, and vstor reports the ALUA state
  # change it brings as a unit attention (2A/06) to the sessions open then. iscsi-perf counts a
  # command it retries after a unit attention out twice, its in-flight count wraps and it waits
  # forever; so vstor's run starts after its state has settled (0.5 s after the lock moves here).
  [ "$spid" = "$rbd_vpid" ] && sleep 2
  case "$url:$scn" in
    rbd-bench:*) rbd_bench_run "$key" "$scn" ;;
    *:rr32) perf "$key" "$spid" "$url" 32 8 -r ;;
    *:rw32) randwrite "$key" "$spid" "$url" ;;
    *:seq) perf "$key" "$spid" "$url" 8 2048 | awk '{print $1, round($1 * 1048576 / 1e6)} function round(x) {return int(x + 0.5)}' ;;
  esac
}
# One calibration run each, not sampled: rbd bench's first run warms its client too.
for scn in rr32 rw32 seq; do
  [ "$scn" = seq ] && secs_save=$secs && secs=2
  rbd_bench_run calibrate.$scn $scn >/dev/null
  [ "$scn" = seq ] && secs=$secs_save
done
sed -i '/^calibrate\./d' "$out/cpu.txt"
side_pid[v]=$rbd_vpid side_pid[t]=$rbd_tpid side_pid[b]=0
side_url[rbd:v]=iscsi://127.0.0.1:$rport/$iqn/0
side_url[rbd:t]=iscsi://127.0.0.1:$rtport/iqn.2026-11.org.vstor:tgt-rbd/1
side_url[rbd:b]=rbd-bench
for round in $(seq "$rounds"); do
  for scn in rr32 rw32 seq; do
    pair "rbd_$scn" rbd "t b" "$([ $scn = seq ] && echo 2 || echo 1)" rbd_side "$scn"
  done
  echo "  round $round done (load: $(cut -d' ' -f1-3 /proc/loadavg))"
done
round=1
secs=$secs_main
side_pid[v]=$vpid side_pid[t]=$tpid
grep -h 'breaking\|blocklist' "$out/vstor.log" 2>/dev/null | tail -3 || true
kill -9 $rbd_vpid $rbd_tpid 2>/dev/null || true
wait $rbd_vpid $rbd_tpid 2>/dev/null || true
rm -f "$rbd_hold"
wait $rbd_fixture_pid || echo "rbd: the cluster fixture failed (see $out/ceph-fixture.log)" >&2
echo "  rbd group took $(( $(date +%s) - rbd_t0 )) s after the cluster was up"
