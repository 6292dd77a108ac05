#!/usr/bin/env python3
"""Before/after of two vstor builds, interleaved: target CPU per I/O and IOPS.

    bench/ab_cpu.py BEFORE_VSTOR AFTER_VSTOR [--rounds 5] [--seconds 5] [--only iscsi-w32,...]
                    [--lun file:/dev/shm/ab.img] [--client build/vstor-bench-iscsi] [--fill]

Each round serves a 1 GiB LUN (mem:1G unless --lun says otherwise) from each build in turn (who goes first alternates) and runs
every scenario against it with the same client; the target's CPU time comes from /proc (utime +
stime of the server process over the run). Prints the median over the rounds, every round, and
the median of each round's after/before ratio, so that a change is measured against the build
before it in the same minutes of a busy machine (docs/performance.md). Scenarios: iSCSI 4 KiB random read QD1 and QD32 (iscsi-perf), 4 KiB write
QD32 (qemu-img bench; iscsi-w32-again rewrites the same blocks), 4 KiB random write QD32 (vstor-bench-iscsi, --client; iscsi-rw16x2
and iscsi-rr16x2: two such clients at QD 16 writing or reading), 1 MiB read QD8
(iscsi-perf), NBD 4 KiB random read/write QD32 and 1 MiB read QD8 (fio's nbd engine).
--fill writes the whole LUN (fio, 1 MiB writes over NBD) after the write scenarios and before the
reads, as `make bench` does for its NBD reads: a read of unwritten blocks is a memset, a read of
written ones a copy from cold memory.
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

IQN = "iqn.2026-11.org.vstor:ab"
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port):
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} never opened")


def cpu_seconds(pid):
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


class Served:
    def __init__(self, vstor, log, lun):
        self.port, self.nport = free_port(), free_port()
        self.proc = subprocess.Popen([vstor, "serve", "--control", "off", "--listen", f"127.0.0.1:{self.port}",
                                      "--nbd-listen", f"127.0.0.1:{self.nport}", "--target", IQN,
                                      "--log-level", "warn", "--lun", lun], stdout=log, stderr=log)
        wait_port(self.port)
        wait_port(self.nport)
        self.url = f"iscsi://127.0.0.1:{self.port}/{IQN}/0"
        self.nbd = f"nbd://127.0.0.1:{self.nport}"

    def stop(self):
        # SIGTERM: the server closes its LUNs, and an RBD LUN releases the image's exclusive lock
        # for the next one to take at once; SIGKILL only if it does not exit in time.
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def iscsi_perf(srv, secs, qd, blocks, *flags):
    out = subprocess.run(["iscsi-perf", "-m", str(qd), "-b", str(blocks), "-t", str(secs), *flags, srv.url],
                         capture_output=True, text=True).stdout.replace("\r", "\n")
    iops = [float(l.split()[2]) for l in out.splitlines() if l.strip().startswith("iops average")]
    return iops[-1] if iops else 0.0


def qemu_write(srv, secs, n=100000):
    out = subprocess.run(["qemu-img", "bench", "-f", "raw", "-w", "-t", "none", "-c", str(n), "-d", "32",
                          "-s", "4k", srv.url], capture_output=True, text=True).stdout
    t = [float(l.split()[3]) for l in out.splitlines() if "Run completed in" in l]
    return n / t[0] if t else 0.0


def fio_nbd(srv, secs, rw, bs, qd):
    with tempfile.NamedTemporaryFile(suffix=".json") as j:
        subprocess.run(["fio", "--name=ab", "--ioengine=nbd", f"--uri={srv.nbd}", f"--rw={rw}", f"--bs={bs}",
                        f"--iodepth={qd}", "--size=1G", "--time_based", f"--runtime={secs}",
                        "--output-format=json", f"--output={j.name}"], capture_output=True, cwd=tempfile.gettempdir())
        d = json.load(open(j.name))["jobs"][0]
    d = d["write"] if d["write"]["io_bytes"] else d["read"]
    return d["iops"]


def bench_clients(srv, secs, bs, qd, read_percent, n=1):
    """n --client processes at once, each its own session (n=2: the target's loops both busy):
    summed IOPS."""
    procs = [subprocess.Popen([CLIENT, srv.url, str(bs), str(qd), str(read_percent), str(secs)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(n)]
    outs = [p.communicate()[0].split() for p in procs]
    return sum(float(o[0]) for o in outs) if all(outs) else 0.0  # a client that failed voids the run


CLIENT = "vstor-bench-iscsi"
SCENARIOS = {
    "iscsi-rr1": lambda s, t: iscsi_perf(s, t, 1, 8, "-r"),
    "iscsi-rr32": lambda s, t: iscsi_perf(s, t, 32, 8, "-r"),
    "iscsi-rw32": lambda s, t: bench_clients(s, t, 4096, 32, 0),
    # Two --client sessions at QD 16 each, writing or reading: the same client both ways, so the
    # clients do not set the write/read ratio of the target's CPU (docs/performance.md). Use --fill
    # for reads of written blocks; the writes run before it, on a fresh LUN (new chunks).
    "iscsi-rw16x2": lambda s, t: bench_clients(s, t, 4096, 16, 0, n=2),
    "iscsi-rr16x2": lambda s, t: bench_clients(s, t, 4096, 16, 100, n=2),
    "iscsi-seq1m": lambda s, t: iscsi_perf(s, t, 8, 2048),
    "iscsi-w32": lambda s, t: qemu_write(s, t),
    # The same writes again: after iscsi-w32 they land on blocks already written (no new chunks).
    "iscsi-w32-again": lambda s, t: qemu_write(s, t),
    "nbd-rr32": lambda s, t: fio_nbd(s, t, "randread", "4k", 32),
    "nbd-rw32": lambda s, t: fio_nbd(s, t, "randwrite", "4k", 32),
    "nbd-seq1m": lambda s, t: fio_nbd(s, t, "read", "1M", 8),
}


WRITES = ("iscsi-rw32", "iscsi-rw16x2", "iscsi-w32", "iscsi-w32-again", "nbd-rw32")


def fill(srv):
    subprocess.run(["fio", "--name=fill", "--ioengine=nbd", f"--uri={srv.nbd}", "--rw=write", "--bs=1M",
                    "--iodepth=8", "--size=1G"], capture_output=True, cwd=tempfile.gettempdir())


def measure(srv, name, secs):
    c0, w0 = cpu_seconds(srv.proc.pid), time.monotonic()
    iops = SCENARIOS[name](srv, secs)
    c1, w1 = cpu_seconds(srv.proc.pid), time.monotonic()
    ios = iops * (w1 - w0)
    return iops, (c1 - c0) / ios * 1e6 if ios else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--only", default="iscsi-rr32,iscsi-w32,nbd-rr32,nbd-rw32,nbd-seq1m")
    ap.add_argument("--lun", default="mem:1G")
    ap.add_argument("--fill", action="store_true", help="fill the LUN after the write scenarios")
    ap.add_argument("--client", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build",
                                                     "vstor-bench-iscsi"))
    a = ap.parse_args()
    global CLIENT
    CLIENT = a.client
    names = a.only.split(",")
    if a.fill:  # writes first, then the fill, then the reads
        names = [n for n in names if n in WRITES] + [n for n in names if n not in WRITES]
    runs = {(b, n): [] for b in ("before", "after") for n in names}
    log_path = os.path.join(tempfile.gettempdir(), "ab_cpu.log")
    log = open(log_path, "ab")
    log_start = log.tell()
    for r in range(a.rounds):
        order = ("before", "after") if r % 2 == 0 else ("after", "before")
        for build in order:
            srv = Served(getattr(a, build), log, a.lun)
            try:
                for i, n in enumerate(names):
                    if a.fill and n not in WRITES and (i == 0 or names[i - 1] in WRITES):
                        fill(srv)
                    runs[(build, n)].append(measure(srv, n, a.seconds))
            finally:
                srv.stop()
        print(f"round {r + 1}/{a.rounds} done", file=sys.stderr)
    log.flush()
    with open(log_path, "rb") as f:
        f.seek(log_start)
        broken = sum(1 for line in f if b"breaking the lock" in line)
    if broken:
        print(f"WARNING: {broken} run(s) waited for and broke an RBD lock ({log_path}): their figures include "
              "the wait")
    print(f"lun {a.lun}{' (filled before the reads)' if a.fill else ''}, {a.rounds} rounds of {a.seconds}s, load average at the end {os.getloadavg()[0]:.1f}")
    print(f"{'scenario':12} {'build':7} {'IOPS med':>9} {'us/IO med':>9}  rounds (IOPS / us per I/O)")
    for n in names:
        for b in ("before", "after"):
            v = runs[(b, n)]
            rounds = ", ".join(f"{i:.0f}/{c:.1f}" for i, c in v)
            print(f"{n:12} {b:7} {statistics.median(i for i, _ in v):>9.0f} "
                  f"{statistics.median(c for _, c in v):>9.2f}  {rounds}")
        # Each round's two runs are minutes apart at most: their ratio cancels what drifts over
        # the whole A/B (an RBD image's memstore OSD slows as its objects fragment).
        pairs = [(x[0] / y[0], x[1] / y[1]) for x, y in zip(runs[("after", n)], runs[("before", n)]) if y[0] and y[1]]
        if pairs:
            print(f"{n:12} after/before, median of the rounds' ratios: IOPS {statistics.median(p[0] for p in pairs):.3f}, "
                  f"us/IO {statistics.median(p[1] for p in pairs):.3f}")


if __name__ == "__main__":
    main()
