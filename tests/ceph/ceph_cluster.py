#!/usr/bin/env python3
"""A throwaway single-node Ceph cluster for the `ceph` tests: 1 mon, 1 mgr, 1 memstore OSD on
127.0.0.1, everything under one directory, pool size 1. It starts the daemons, waits until the
cluster is really usable (HEALTH_OK and a mgr available and the OSD up and every PG active+clean),
creates the pools and images asked for, runs a command, and stops every daemon by PID afterwards,
also when the command or the start-up fails or the fixture itself is killed.

  ceph_cluster.py --dir DIR [--image POOL/NAME:SIZE ...] [--timeout S] -- COMMAND ARGS...

The command sees CEPH_CONF (the cluster's ceph.conf) in its environment and runs in its own process
group, killed after --timeout seconds. The mon ports are fixed (3300, 6789), so one cluster runs at
a time on a machine: a lock file serializes fixtures (ctest also runs these tests RUN_SERIAL).
../shared/CEPH-NOTES.md has the facts this relies on.
"""
import argparse
import ctypes
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

LOCK_PATH = "/tmp/vstor-ceph-fixture.lock"
MON_ADDR = "[v2:127.0.0.1:3300,v1:127.0.0.1:6789]"
MON_PORTS = (3300, 6789)

CONF = """[global]
fsid = {fsid}
mon host = {mon}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
keyring = /dev/null
run dir = {dir}/run
log file = {dir}/log/$name.log
mon data = {dir}/$name
mgr data = {dir}/$name
osd data = {dir}/$name
osd objectstore = memstore
memstore device bytes = 4294967296
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
# The tests pause the OSD (SIGSTOP) for 10-15 s at a time. A PG's read lease is 0.8 x this grace
# (16 s by default): a pause near that lets the lease run out, the PG turns laggy and, with one
# OSD, may stay so (a stalled lease renewal: Ceph PR 71663): every op then waits, for good
# (seen here: rbd_gateways hung in 3 of 14 runs). 60 s gives 48 s of lease.
osd heartbeat grace = 60
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
osd pool default pg autoscale mode = off
mon data avail warn = 1
mon mgr digest period = 1
mgr stats period = 1
mgr tick period = 1
mgr initial modules = iostat
mgr module path = {dir}/mgr-modules
"""

# The mgr imports every Python module on its path before it becomes available: with all of
# Debian's (/usr/share/ceph/mgr) that takes 15-70 s on a loaded 2-core machine. It gets a path with
# only the modules a health report needs: pacific's always-on ones (a missing one is a
# MGR_MODULE_ERROR, HEALTH_ERR) and iostat.
MGR_SOURCE = "/usr/share/ceph/mgr"
MGR_MODULES = ("mgr_module.py", "mgr_util.py", "iostat", "balancer", "crash", "devicehealth", "orchestrator",
               "pg_autoscaler", "progress", "rbd_support", "status", "telemetry", "volumes")


def log(msg):
    print(f"ceph_cluster: {msg}", flush=True)


def die_with_parent():
    """Runs in each daemon before exec: the kernel kills it if the fixture dies (even by SIGKILL)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class Cluster:
    def __init__(self, root):
        self.dir = os.path.abspath(root)
        self.conf = os.path.join(self.dir, "ceph.conf")
        self.daemons = []  # (name, Popen), in start order

    def ceph(self, *args, timeout=60, tool="ceph"):
        cmd = [tool, "-c", self.conf] + (["--connect-timeout", "30"] if tool == "ceph" else []) + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
        return r.stdout

    def start_daemon(self, name, cmd):
        out = open(os.path.join(self.dir, "log", name + ".stdout"), "wb")
        p = subprocess.Popen(cmd + ["-c", self.conf, "-f"], stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        self.daemons.append((name, p))
        log(f"{name} started, pid {p.pid}")

    def check_daemons(self):
        for name, p in self.daemons:
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited with {p.returncode} (see {self.dir}/log)")

    def create(self):
        if os.path.exists(self.dir):
            shutil.rmtree(self.dir)
        for sub in ("run", "log", "mgr.x", "osd.0"):
            os.makedirs(os.path.join(self.dir, sub))
        os.makedirs(os.path.join(self.dir, "mgr-modules"))
        for m in MGR_MODULES:
            os.symlink(os.path.join(MGR_SOURCE, m), os.path.join(self.dir, "mgr-modules", m))
        fsid, osd_uuid = str(uuid.uuid4()), str(uuid.uuid4())
        with open(self.conf, "w") as f:
            f.write(CONF.format(fsid=fsid, mon=MON_ADDR, dir=self.dir))
        monmap = os.path.join(self.dir, "monmap")
        run = lambda *cmd: subprocess.run(list(cmd), check=True, capture_output=True, timeout=120)
        run("monmaptool", "--create", "--fsid", fsid, "--addv", "a", MON_ADDR, monmap)
        run("ceph-mon", "-c", self.conf, "-i", "a", "--mkfs", "--monmap", monmap, "--keyring", "/dev/null")
        # --no-mon-config: without it mkfs waits (300 s) for a mon to fetch its configuration from.
        run("ceph-osd", "-c", self.conf, "-i", "0", "--mkfs", "--no-mon-config", "--osd-uuid", osd_uuid)
        self.start_daemon("mon.a", ["ceph-mon", "-i", "a"])
        self.ceph("osd", "new", osd_uuid, "0")
        self.start_daemon("mgr.x", ["ceph-mgr", "-i", "x"])
        self.start_daemon("osd.0", ["ceph-osd", "-i", "0"])

    def status(self):
        s = json.loads(self.ceph("status", "-f", "json"))
        pgs = s.get("pgmap", {})
        clean = sum(x["count"] for x in pgs.get("pgs_by_state", []) if x["state_name"] == "active+clean")
        osdmap = s.get("osdmap", {})
        osdmap = osdmap.get("osdmap", osdmap)  # nested before octopus
        return {"health": s["health"]["status"], "mgr": s.get("mgrmap", {}).get("available", False),
                "osds_up": osdmap.get("num_up_osds", 0), "pgs": pgs.get("num_pgs", 0), "clean": clean}

    def wait_ready(self, deadline):
        # A fresh mon says HEALTH_OK with no OSD at all: wait for every condition together.
        last = None
        while True:
            self.check_daemons()
            try:
                last = self.status()
                if (last["health"] == "HEALTH_OK" and last["mgr"] and last["osds_up"] == 1
                        and last["clean"] == last["pgs"]):
                    return last
            except (RuntimeError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
                last = str(e)
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ready in time; last status: {last}")
            time.sleep(0.5)

    def add_image(self, spec, deadline):
        name, size = spec.rsplit(":", 1)
        pool = name.split("/", 1)[0]
        pools = json.loads(self.ceph("osd", "pool", "ls", "-f", "json"))
        if pool not in pools:
            self.ceph("osd", "pool", "create", pool, "8", "8")
            self.ceph("pool", "init", pool, tool="rbd")
            self.wait_ready(deadline)
        self.ceph("create", name, "--size", size, tool="rbd")
        log(f"image {name} ({size}) created")

    def stop(self):
        # SIGKILL: the cluster is thrown away and keeps nothing (memstore), and SIGTERM costs an
        # OSD's orderly shutdown, 5 s per test here. Nothing may outlive the fixture.
        for name, p in reversed(self.daemons):
            if p.poll() is None:
                p.kill()
        for name, p in reversed(self.daemons):
            p.wait()
            log(f"{name} (pid {p.pid}) stopped")
        self.daemons = []


def ports_free():
    for port in MON_PORTS:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return False
    return True


def take_lock(timeout):
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT, 0o666)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"another Ceph fixture holds {LOCK_PATH}")
            time.sleep(1)


def run_command(cmd, env, timeout):
    p = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log(f"command still running after {timeout} s: killing it")
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        return 124
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--image", action="append", default=[], help="POOL/NAME:SIZE, e.g. rbd/img:256M")
    ap.add_argument("--start-timeout", type=float, default=120)
    ap.add_argument("--timeout", type=float, default=240, help="seconds the command may run")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("no command")
    # SIGTERM/SIGINT (ctest, a user) unwind through the finally below.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    lock = take_lock(a.start_timeout)
    cluster = Cluster(a.dir)
    rc = 1
    try:
        if not ports_free():
            raise RuntimeError(f"something already listens on 127.0.0.1 port {MON_PORTS}: another Ceph?")
        t0 = time.monotonic()
        deadline = t0 + a.start_timeout
        cluster.create()
        st = cluster.wait_ready(deadline)
        for spec in a.image:
            cluster.add_image(spec, deadline)
        log(f"ready in {time.monotonic() - t0:.1f} s: {st}")
        # The daemons' PIDs, for a test that stops one for a while (SIGSTOP/SIGCONT).
        pids = {name.split(".")[0].upper(): str(p.pid) for name, p in cluster.daemons}
        env = dict(os.environ, CEPH_CONF=cluster.conf, CEPH_MON_PID=pids["MON"], CEPH_OSD_PID=pids["OSD"])
        rc = run_command(cmd, env, a.timeout)
    except Exception as e:  # report, stop the daemons, fail
        log(f"FAIL: {e}")
        rc = 1
    finally:
        t1 = time.monotonic()
        cluster.stop()
        log(f"stopped in {time.monotonic() - t1:.1f} s")
        os.close(lock)
    return rc


if __name__ == "__main__":
    sys.exit(main())
