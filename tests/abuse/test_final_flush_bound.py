"""A backend that stops answering must not hold `vstor serve`'s shutdown forever (before: SIGTERM
waited in the final flush until the store answered, e.g. an RBD image whose cluster is gone).

Three servers at once, each with a Python LUN whose flush takes flush_ms (-1: never answers):
- a slow but answering flush (0.5 s) is waited for: exit 0, nothing logged about the flush;
- `--final-flush-timeout 2` and a flush that never answers: exit 1 after about 2 s, the LUN named
  in the log; the plugin's teardown, which waits for the same call, is then cut short too;
- the default limit (60 s) and a second SIGTERM 1 s after the first: exit 1 at once, saying why.
And two whose LUN never answers a read of its second half, with such a read in flight when
SIGTERM comes (the front ends wait for it while they stop: before, for ever, and a second SIGTERM
did nothing): `--final-flush-timeout 2` exits 1 after about 2 s, a second SIGTERM 1 s after the
first exits 1 at once; each says so, and the LUN's writes are flushed first.
(A signal while the LUNs are built: test_start_interrupted.py.)
"""
import os
import signal
import subprocess
import time

from raw_iscsi import RawSession
from vstor_fixture import Server, TestFailure, check, main

SCRIPT = '''
import threading
import time

thread_model = "parallel"
_cfg = {}


def config(key, value):
    if key not in ("flush_ms", "hang_reads"):
        raise ValueError(f"unknown key {key!r} (flush_ms, hang_reads)")
    _cfg[key] = int(value)


def open(readonly):
    return {"disk": bytearray(1 << 20), "flush_ms": _cfg.get("flush_ms", 0), "hang_reads": _cfg.get("hang_reads", 0)}


def get_size(h):
    return len(h["disk"])


def pread(h, buf, offset, flags):
    if h["hang_reads"] and offset >= len(h["disk"]) // 2:
        threading.Event().wait()  # a store that never answers this read
    buf[:] = h["disk"][offset:offset + len(buf)]


def pwrite(h, buf, offset, flags):
    h["disk"][offset:offset + len(buf)] = buf


def flush(h, flags):
    if h["flush_ms"] < 0:
        threading.Event().wait()  # a store that never answers
    time.sleep(h["flush_ms"] / 1000)
'''

READ_TARGET = "iqn.2026-12.org.vstor:reads"

# The bound on the teardown after a flush was given up on (src/cli/serve_stop.hpp), plus slack.
TEARDOWN_BOUND_S = 15
SLACK_S = 8


def wait_exit(srv, timeout):
    """The exit status; a failure if it does not exit within timeout."""
    try:
        return srv.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        srv.proc.wait()
        raise TestFailure(f"{srv.log_path}: vstor did not exit within {timeout} s of SIGTERM")


def run(args):
    script = os.path.join(args.workdir, "slow_flush.py")
    with open(script, "w") as f:
        f.write(SCRIPT)

    def server(name, flush_ms, extra=()):
        srv = Server(args, ["--lun", f"python:{script},flush_ms={flush_ms}", *extra], name=name)
        srv.__enter__()
        return srv

    slow = server("slow", 500)
    bounded = server("bounded", -1, ["--final-flush-timeout", "2"])
    again = server("again", -1)
    reads = []  # (server, session with a READ in flight that the LUN never answers)
    for name, extra in (("read_bounded", ["--final-flush-timeout", "2"]), ("read_again", [])):
        srv = Server(args, ["--target", READ_TARGET, "--lun", f"python:{script},hang_reads=1", *extra], name=name)
        srv.__enter__()
        s = RawSession("127.0.0.1", srv.iscsi_port)
        s.login(READ_TARGET)
        s.read16(1, 1536, 4096)  # LBA 1536 of 2048: in the half that never answers
        reads.append((srv, s))
    try:
        time.sleep(0.5)  # the READs reach the backend
        t0 = time.monotonic()
        for srv in (slow, bounded, again, *(r[0] for r in reads)):
            srv.proc.send_signal(signal.SIGTERM)
        time.sleep(1)
        again.proc.send_signal(signal.SIGTERM)
        reads[1][0].proc.send_signal(signal.SIGTERM)

        # The one expected first is waited for first, so that each exit time is its own.
        for (srv, _), name, limit, cause in ((reads[1], "second SIGTERM", 1, "SIGTERM again"),
                                             (reads[0], "--final-flush-timeout 2", 2, "within 2 s")):
            rc = wait_exit(srv, limit + SLACK_S)
            took = time.monotonic() - t0
            log = srv.log_text()
            check(rc == 1, f"{name}, a READ the backend never answers: exit {rc}, expected 1\n{log}")
            check(f"{cause}" in log and "the front ends have not stopped" in log and
                  "exiting with commands still in a backend" in log,
                  f"{name}, a READ the backend never answers: the stop given up on is not explained:\n{log}")
            check(limit <= took < limit + SLACK_S, f"{name}, a READ the backend never answers: exited after {took:.1f} s")
            print(f"{name}, a READ the backend never answers: exit 1 after {took:.1f} s")

        rc = wait_exit(slow, 30)
        log = slow.log_text()
        check(rc == 0, f"a flush that answered after 0.5 s: exit {rc}\n{log}")
        check("final flush" not in log, f"a flush that answered was reported:\n{log}")

        rc = wait_exit(again, 1 + TEARDOWN_BOUND_S + SLACK_S)
        again_s = time.monotonic() - t0
        log = again.log_text()
        check(rc == 1, f"second SIGTERM: exit {rc}, expected 1\n{log}")
        check("SIGTERM again: not waiting for the final flush any longer" in log, f"second SIGTERM not logged:\n{log}")
        check("LUN 0: the final flush has not finished after" in log and "(asked not to wait any longer)" in log,
              f"the LUN given up on is not named:\n{log}")

        rc = wait_exit(bounded, 2 + TEARDOWN_BOUND_S + SLACK_S)
        bounded_s = time.monotonic() - t0
        log = bounded.log_text()
        check(rc == 1, f"--final-flush-timeout 2: exit {rc}, expected 1\n{log}")
        check(bounded_s >= 2, f"--final-flush-timeout 2: exited after {bounded_s:.1f} s, before the limit")
        check("LUN 0: the final flush has not finished after 2" in log, f"the LUN given up on is not named:\n{log}")
        check("asked not to wait" not in log, f"a single SIGTERM was taken for two:\n{log}")
        # The Python call still sleeps, so the teardown that joins it is cut short and says so.
        check("the shutdown did not finish within 15 s of giving up on the final flush" in log,
              f"the teardown after the give-up was not bounded as expected:\n{log}")
        print(f"exits: slow flush 0, --final-flush-timeout 2 after {bounded_s:.1f} s, "
              f"second SIGTERM after {again_s:.1f} s")
    finally:
        for _, sess in reads:
            sess.close()
        for srv in (slow, bounded, again, *(r[0] for r in reads)):
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            srv.log.close()


main(run)
