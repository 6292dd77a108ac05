#!/usr/bin/env python3
"""The table `make bench` prints and results.json (bench/run-bench.sh collects the runs).

    report.py RESULTS_JSON CPU_TXT SAMPLES_TXT WRITE_BUDGET_JSON M_PEAK_MIB M_PER_CONN_KIB

samples.txt: "KEY ROUND VALUE" per run (KEY = side_scenario; v = vstor, t = tgt rdwr, a = tgt aio,
k = nbdkit, q = qemu-nbd; the file scenarios are shm_* and disk_*; rbd_*: v = vstor, t = tgt-rbd,
b = rbd bench; db_*: v = a DBDisk LUN, m = a
mem LUN beside it). Scenarios with no vstor
sample (a group BENCH_GROUPS left out) and memory figures of 0 are not reported. cpu.txt: "KEY.ROUND CLIENT_CORES TARGET_CORES" per metered run.
Per scenario: vstor's best run against the best peer's best run (the IOPS or MB/s ratio), and
the target's CPU per I/O (per MiB for MB/s scenarios) in every round: median, spread, and the
ratio of vstor's median to the lowest peer median (the goal columns of issue 18).
"""
import json
import os
import platform
import statistics
import sys

results_path, cpu_path, samples_path, wb_path = sys.argv[1:5]
m_peak, m_per_conn = int(sys.argv[5]), int(sys.argv[6])
PEER_NAMES = {"t": "tgt", "a": "tgt-aio", "k": "nbdkit-memory", "q": "qemu-nbd"}

cpu = {}
for line in open(cpu_path):
    key, client, target = line.split()
    cpu[key] = {"client_cores": float(client), "target_cores": float(target)}
samples = {}
for line in open(samples_path):
    key, rnd, value = line.split()
    samples.setdefault(key, []).append((int(rnd), float(value)))


def best(key, stat="best"):
    """(best value, every value, CPU of the best run) of a sample key; stat="median": the run with
    the (lower) median value instead of the best."""
    runs = samples.get(key, [(1, 0.0)])
    if stat == "median":
        rnd, v = sorted(runs, key=lambda r: r[1])[(len(runs) - 1) // 2]
    else:
        rnd, v = max(runs, key=lambda r: r[1])
    return round(v), [round(r[1]) for r in runs], cpu.get(f"{key}.{rnd}")


def cpu_per_unit(key, unit):
    """Target CPU in µs per I/O (IOPS) or per MiB (MB/s), one figure per round with a CPU record."""
    out = []
    for rnd, v in samples.get(key, []):
        c = cpu.get(f"{key}.{rnd}")
        if c and v > 0:
            per_second = v if unit == "IOPS" else v * 1e6 / (1 << 20)
            out.append(c["target_cores"] / per_second * 1e6)
    return out


def cpu_summary(values):
    if not values:
        return None
    return {"median": round(statistics.median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "rounds": [round(v, 2) for v in values]}


def row(name, unit, v, peers, goal, cpu_goal=None, stat="best", clients=1):
    """A scenario: vstor sample key v against peer sample keys {name: key}; goal on the ratio of
    the best runs (stat="median": of the median runs), cpu_goal on vstor's median CPU per unit
    over the lowest peer's; clients: how many client processes ran at once."""
    val, v_runs, v_cpu = best(v, stat)
    pvals = {p: best(k, stat) for p, k in peers.items()}
    top = max(pvals, key=lambda p: pvals[p][0])
    ref = pvals[top][0]
    ratio = round(val / ref, 2) if ref else 0.0
    r = {"_key": v[2:], "name": name, "unit": unit, "vstor": val, "peers": {p: pv[0] for p, pv in pvals.items()},
         "best_peer": top, "ratio": ratio, "goal": goal, "met": None if goal is None else ratio >= goal}
    if stat != "best":
        r["stat"] = stat
    if len(v_runs) > 1:
        r["runs"] = {"vstor": v_runs, **{p: pv[1] for p, pv in pvals.items()}}
    if v_cpu:
        r["cpu"] = {"vstor": v_cpu, **{p: pv[2] for p, pv in pvals.items() if pv[2]}}
        # Single-threaded clients using (nearly) a whole core each cannot go faster whatever the target does.
        r["bound"] = "client" if v_cpu["client_cores"] >= 0.9 * clients else None
        if clients > 1:
            r["clients"] = clients
    per = {"vstor": cpu_summary(cpu_per_unit(v, unit))}
    per.update({p: cpu_summary(cpu_per_unit(k, unit)) for p, k in peers.items()})
    if per["vstor"]:
        r["cpu_per"] = {"unit": "us/IO" if unit == "IOPS" else "us/MiB", **{k: s for k, s in per.items() if s}}
        lows = {p: s["median"] for p, s in per.items() if p != "vstor" and s}
        if lows:
            low = min(lows, key=lows.get)
            r["cpu_ratio"] = round(per["vstor"]["median"] / lows[low], 2) if lows[low] else 0.0
            r["cpu_best_peer"] = low
            r["cpu_goal"] = cpu_goal
            r["cpu_met"] = None if cpu_goal is None else r["cpu_ratio"] <= cpu_goal
    return r


def fixed(name, unit, value, peer, ref, goal):
    """A lower-is-better figure against a fixed reference (memory rows)."""
    ratio = round(value / ref, 2) if ref else 0.0
    return {"name": name, "unit": unit, "vstor": value, "peers": {peer: ref}, "best_peer": peer,
            "ratio": ratio, "goal": goal, "met": ratio <= goal}


def ceiling_row(name, unit, scn):
    """rbd bench (librbd straight to the cluster, in the vstor column) against tgt-rbd: a gateway
    adds its work to librbd's, so vstor can reach 2x tgt-rbd only in a run where this is over 2."""
    r = row(name, unit, f"b_rbd_{scn}", {"tgt-rbd": f"t_rbd_{scn}"}, None, stat="median")
    r["_key"] = f"rbd_{scn}"  # shown when vstor's RBD rows ran
    r["side"] = "rbd-bench"  # what the row's "vstor" figures are
    return r


T, TA, NBD = {"tgt": "t"}, {"tgt": "t", "tgt-aio": "a"}, {"nbdkit-memory": "k", "qemu-nbd": "q"}
def keys(peers, name):
    return {p: f"{k}_{name}" for p, k in peers.items()}


rows = [
    row("iscsi-4k-randread-qd1", "IOPS", "v_rr1", keys(TA, "rr1"), 1.0, 0.33),
    row("iscsi-4k-randread-qd8", "IOPS", "v_rr8", keys(T, "rr8"), None),
    row("iscsi-4k-randread-qd32", "IOPS", "v_rr32", keys(TA, "rr32"), 3.0, 0.33),
    row("iscsi-4k-randread-qd128", "IOPS", "v_rr128", keys(T, "rr128"), None),
    row("iscsi-4k-randread-qd32-null-lun", "IOPS", "v_null32", keys(TA, "rr32"), 3.0),
    row("iscsi-4k-write-qd32", "IOPS", "v_w32", keys(TA, "w32"), 3.0, 0.33),
    # The same 32 commands in flight from two client processes (QD 16 each), so the target is pushed.
    row("iscsi-4k-randread-qd32-2-clients", "IOPS", "v_rr32x2", {"tgt-aio": "a_rr32x2"}, None, clients=2),
    row("iscsi-4k-write-qd32-2-clients", "IOPS", "v_w32x2", {"tgt-aio": "a_w32x2"}, None, clients=2),
    row("iscsi-4k-randread-qd32-2-bench-clients", "IOPS", "v_rr32c2", {"tgt-aio": "a_rr32c2"}, None, clients=2),
    row("iscsi-64k-randrw-70-30-qd32", "IOPS", "v_mix", keys(T, "mix"), None),
    row("iscsi-1m-seqread-qd8", "MB/s", "v_seq", keys(TA, "seq"), 1.7, 0.5),
    row("iscsi-1m-seqread-qd8-vs-loopback", "MB/s", "v_seq", {"iperf3-loopback": "ceiling"}, 0.9),
    row("iscsi-4k-randread-1-session", "IOPS", "v_s1", keys(T, "s1"), None),
    row("iscsi-4k-randread-4-sessions", "IOPS", "v_s4", keys(T, "s4"), None),
    row("iscsi-4k-randread-16-sessions", "IOPS", "v_s16", keys(T, "s16"), None),
    row("iscsi-4-sessions-2-loops-vs-1-loop", "IOPS", "v_loops2", {"vstor-1-loop": "v_loops1"}, None),
    # The file backend against tgt on the same prefilled file (issue 18 §2 goals on /dev/shm).
    *[r for m, where in (("shm", "dev-shm"), ("disk", "build-fs")) for r in (
        row(f"file-{where}-4k-randread-qd1", "IOPS", f"v_{m}_rr1", keys(TA, f"{m}_rr1"), 1.3, 0.33),
        row(f"file-{where}-4k-randread-qd32", "IOPS", f"v_{m}_rr32", keys(TA, f"{m}_rr32"), 2.0, 0.33),
        row(f"file-{where}-4k-randwrite-qd32", "IOPS", f"v_{m}_rw32", keys(TA, f"{m}_rw32"), 2.0, 0.33),
        row(f"file-{where}-1m-seqread-qd8", "MB/s", f"v_{m}_seq", keys(TA, f"{m}_seq"), None, 0.5))],
    row("file-dev-shm-1m-seqread-qd8-vs-loopback", "MB/s", "v_shm_seq", {"iperf3-loopback": "ceiling_file"}, 0.9),
    row("nbd-4k-randread-qd32", "IOPS", "v_nr32", keys(NBD, "nr32"), 1.2, 0.33),
    row("nbd-4k-randwrite-qd32", "IOPS", "v_nw32", keys(NBD, "nw32"), 1.2, 0.33),
    row("nbd-4k-randread-qd32-2-clients", "IOPS", "v_nr32x2", keys(NBD, "nr32x2"), None, clients=2),
    row("nbd-4k-randwrite-qd32-2-clients", "IOPS", "v_nw32x2", keys(NBD, "nw32x2"), None, clients=2),
    row("nbd-1m-seqread-qd8", "MB/s", "v_nseq", keys(NBD, "nseq"), 1.2, 0.5),
    # DBDisk (examples/dbdisk) beside a mem LUN of the same size in the same vstor: no goal.
    row("dbdisk-4k-randread-qd32", "IOPS", "v_db_rr32", {"mem-lun": "m_db_rr32"}, None),
    row("dbdisk-4k-randwrite-qd32", "IOPS", "v_db_rw32", {"mem-lun": "m_db_rw32"}, None),
    # RBD (issue 16 §5, bench/rbd-group.sh): one image of a throwaway cluster, medians of the
    # rounds (the memstore OSD's speed varies more than a run). rbd bench's CPU is its own.
    *[r for scn, name, unit in (("rr32", "rbd-4k-randread-qd32", "IOPS"), ("rw32", "rbd-4k-randwrite-qd32", "IOPS"),
                                ("seq", "rbd-1m-seqread-qd8", "MB/s")) for r in (
        row(name, unit, f"v_rbd_{scn}", {"tgt-rbd": f"t_rbd_{scn}"}, 2.0 if unit == "IOPS" else None, stat="median"),
        row(f"{name}-vs-rbd-bench", unit, f"v_rbd_{scn}", {"rbd-bench": f"b_rbd_{scn}"}, 0.8, stat="median"),
        ceiling_row(f"rbd-bench-{name[4:]}-vs-tgt-rbd", unit, scn))],
    fixed("memory-peak-rss-1g-mem-lun-100m-written", "MiB", m_peak, "data-written", 100, 1.5),
    fixed("memory-rss-per-idle-session", "KiB", m_per_conn, "1-MiB", 1024, 1.0),
]


def cpu_ratio(name, key, ref_key, ref_name, goal):
    """vstor's median CPU per I/O in scenario `key` over that in `ref_key` (both must have run)."""
    a, b = cpu_summary(cpu_per_unit(key, "IOPS")), cpu_summary(cpu_per_unit(ref_key, "IOPS"))
    if a and b:
        rows.append(fixed(name, "us/IO", a["median"], ref_name, b["median"], goal))


# Issue 18's write/read goal, with the same client both ways (vstor-bench-iscsi, 2 x QD 16 on
# filled blocks): vstor's median CPU per write over its median CPU per read.
cpu_ratio("iscsi-4k-write-vs-read-cpu-same-client", "v_w32x2", "v_rr32c2", "read", 1.5)
# NBD against iSCSI for the same operation (goal ≤ 1.2×): the clients differ (fio's nbd engine,
# iscsi-perf, vstor-bench-iscsi), and with one client each the target wakes per I/O as its client
# sends. Random reads with one client and with two; random writes with two (iSCSI's one-client
# write row is qemu-img's sequential writes).
cpu_ratio("nbd-vs-iscsi-4k-randread-cpu", "v_nr32", "v_rr32", "iscsi", 1.2)
cpu_ratio("nbd-vs-iscsi-4k-randread-cpu-2-clients", "v_nr32x2", "v_rr32x2", "iscsi", 1.2)
cpu_ratio("nbd-vs-iscsi-4k-randwrite-cpu-2-clients", "v_nw32x2", "v_w32x2", "iscsi", 1.2)
# Half-sent writes: peak RSS against the total write buffer budget + 100 MiB (bench/write_budget.py).
if os.path.exists(wb_path):
    wb = json.load(open(wb_path))
    rows.append(fixed("memory-peak-rss-64x64m-half-sent-writes", "MiB", round(wb["peak_rss_mib"]),
                      "write-budget-plus-100-MiB", wb["limit_mib"], 1.0))
    rows[-1]["write_budget"] = wb
# What did not run (BENCH_GROUPS): no vstor sample, or a memory figure of 0.
ran = {k.split("_", 1)[1] for k in samples if k.startswith("v_")}
rows = [r for r in rows if r.get("_key", "") in ran or (r["unit"] not in ("IOPS", "MB/s") and r["vstor"])]
for r in rows:
    r.pop("_key", None)
machine = f"{platform.machine()} {os.cpu_count()} cores, {platform.release()}"
json.dump({"machine": machine, "scenarios": rows}, open(results_path, "w"), indent=2)


def label(r, side):
    """A side's name in the lists under the table: a row's "side" when it measured something else."""
    return r.get("side", side) if side == "vstor" else side


def yes_no(v):
    return "-" if v is None else ("yes" if v else "no")


print(f"{'scenario':40} {'unit':5} {'vstor':>8} {'best peer':>18} {'ratio':>6} {'goal':>5} {'met':4} "
      f"{'cpu/op v':>9} {'cpu/op peer':>20} {'cpu×':>5} {'goal':>5} {'met':4}")
for r in rows:
    peer = f"{r['peers'][r['best_peer']]} {r['best_peer']}"
    goal = "-" if r["goal"] is None else r["goal"]
    line = (f"{r['name']:40} {r['unit']:5} {r['vstor']:>8} {peer:>18} {r['ratio']:>6} {goal:>5} "
            f"{yes_no(r['met']):4}")
    cp = r.get("cpu_per")
    if cp and "cpu_ratio" in r:
        v = cp["vstor"]
        p = cp[r["cpu_best_peer"]]
        cgoal = "-" if r["cpu_goal"] is None else r["cpu_goal"]
        line += (f" {v['median']:>9} {str(p['median']) + ' ' + r['cpu_best_peer']:>20} {r['cpu_ratio']:>5} "
                 f"{cgoal:>5} {yes_no(r['cpu_met']):4}")
    if r.get("bound") == "client":
        line += "  client-bound"
    if r.get("stat") == "median":
        line += "  (medians)"
    print(line)
print("cpu/op: the target's CPU in µs per I/O (per MiB for MB/s rows), median over the rounds, against the\n"
      "peer with the lowest median; client-bound: the client kept a whole core busy in vstor's best run\n"
      "(each of the two clients, on -2-clients rows)")
for r in rows:
    if "runs" in r:
        print(f"  {r['name']}: " + "; ".join(f"{label(r, side)} {', '.join(map(str, v))}"
                                             for side, v in r["runs"].items()))
    cp = r.get("cpu_per")
    if cp and len(cp.get("vstor", {}).get("rounds", [])) > 1:
        print(f"  {r['name']} cpu/op {cp['unit']}: " + "; ".join(
            f"{label(r, side)} {s['median']} ({s['min']}–{s['max']})" for side, s in cp.items() if side != "unit"))
