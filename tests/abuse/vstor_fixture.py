"""Shared fixture for the abuse tests: start `vstor serve` on free ports, watch it, stop it.

A test script does:

    from vstor_fixture import Server, main
    def run(args):
        with Server(args, ["--lun", "mem:64M"], nbd=True) as srv:
            ...  # srv.iscsi_port, srv.nbd_port, srv.control, srv.rss_kib(), srv.log_text()
    main(run)

`main` parses --vstor/--workdir, runs the test, prints PASS or the failure, exits 0/1.
"""
import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time


class TestFailure(Exception):
    pass


def check(cond, message):
    if not cond:
        raise TestFailure(message)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TestFailure(f"vstor exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TestFailure(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Server:
    """A `vstor serve` child. extra: further serve arguments. nbd: also listen for NBD.
    control: also open a control socket (srv.control is its path). metrics: also serve /metrics
    (srv.metrics_port). nofile: the child's RLIMIT_NOFILE (descriptor exhaustion tests).
    fsize: the child's RLIMIT_FSIZE in bytes with SIGXFSZ ignored, so that writes past it fail with
    EFBIG (backend I/O errors without root or a failing disk).
    The log goes to workdir/vstor.log."""

    def __init__(self, args, extra, nbd=False, control=False, metrics=False, name="vstor", env=None,
                 listen=True, nofile=None, fsize=None):
        self.args = args
        self.workdir = args.workdir
        self.iscsi_port = free_port()
        self.nbd_port = free_port() if nbd else None
        self.metrics_port = free_port() if metrics else None
        self.control = os.path.join(self.workdir, f"{name}.sock") if control else None
        self.log_path = os.path.join(self.workdir, f"{name}.log")
        cmd = [args.vstor, "serve", "--log-level", "info"]
        if listen:
            cmd += ["--listen", f"127.0.0.1:{self.iscsi_port}"]
        if nbd:
            cmd += ["--nbd-listen", f"127.0.0.1:{self.nbd_port}"]
        cmd += ["--control", self.control if control else "off"]
        if metrics:
            cmd += ["--metrics", f"127.0.0.1:{self.metrics_port}"]
        self.cmd = cmd + list(extra)
        self.env = env
        self.nofile = nofile
        self.fsize = fsize
        self.proc = None

    def __enter__(self):
        self.log = open(self.log_path, "ab")
        limit = None
        if self.nofile is not None or self.fsize is not None:
            def limit():
                if self.nofile is not None:
                    resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))
                if self.fsize is not None:
                    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an ignored signal survives exec
                    resource.setrlimit(resource.RLIMIT_FSIZE, (self.fsize, self.fsize))
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, env=self.env, preexec_fn=limit)
        wait_for_port(self.iscsi_port, proc=self.proc)
        if self.nbd_port:
            wait_for_port(self.nbd_port, proc=self.proc)
        if self.metrics_port:
            wait_for_port(self.metrics_port, proc=self.proc)
        if self.control:
            deadline = time.monotonic() + 10
            while not os.path.exists(self.control):
                check(time.monotonic() < deadline and self.proc.poll() is None,
                      f"no control socket {self.control}")
                time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop(self, timeout=20.0):
        """SIGTERM, wait; returns the exit status (a hang past timeout is a failure)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure(f"vstor did not stop within {timeout} s of SIGTERM")
        self.log.close()
        return self.proc.returncode

    def alive(self):
        return self.proc.poll() is None

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def socket_count(self):
        """Open sockets only: event loops open their epoll/eventfd/timerfd descriptors lazily, the
        first time a connection lands on them, so whole descriptor counts drift by a few."""
        base = f"/proc/{self.proc.pid}/fd"
        n = 0
        for name in os.listdir(base):
            try:
                if os.readlink(os.path.join(base, name)).startswith("socket:"):
                    n += 1
            except OSError:
                pass
        return n

    def log_text(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def ctl(self, *words, check_rc=True):
        r = subprocess.run([self.args.vstor, "ctl", "--control", self.control, *words],
                           capture_output=True, text=True, timeout=30)
        if check_rc and r.returncode != 0:
            raise TestFailure(f"vstor ctl {' '.join(words)} failed: {r.stderr.strip()}")
        return r


def raise_own_nofile(n):
    """Lets this test process hold n descriptors (many idle connections); fails if the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        if hard != resource.RLIM_INFINITY and hard < n:
            raise TestFailure(f"RLIMIT_NOFILE hard limit {hard} is below the {n} descriptors this test needs")
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def http_get(port, path="/metrics", timeout=10):
    """(status, body) of GET http://127.0.0.1:port/path."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode(errors="replace")
    finally:
        c.close()


def run_tool(cmd, timeout=60, **kw):
    """Runs a real client (iscsi-ls, qemu-io, nbdinfo, ...) and returns the CompletedProcess."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def main(run):
    p = argparse.ArgumentParser()
    p.add_argument("--vstor", required=True)
    p.add_argument("--workdir", required=True)
    args = p.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    start = time.monotonic()
    try:
        run(args)
    except TestFailure as e:
        print(f"FAIL: {e}")
        for name in sorted(os.listdir(args.workdir)):
            if name.endswith(".log"):
                with open(os.path.join(args.workdir, name), "rb") as f:
                    tail = f.read()[-3000:].decode(errors="replace")
                print(f"--- last lines of {name}:\n{tail}")
        sys.exit(1)
    print(f"PASS ({time.monotonic() - start:.1f} s)")
