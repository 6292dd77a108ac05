"""A backend that stops answering must not hold `vstor serve`'s shutdown forever (before: SIGTERM
waited in the final flush until the store answered, e.g. an RBD image whose cluster is gone).

Three servers at once, each with a Python LUN whose flush takes flush_ms (-1: never answers):
- a slow but answering flush (0.5 s) is waited for: exit 0, nothing logged about the flush;
- `--final-flush-timeout 2` and a flush that never answers: exit 1 after about 2 s, the LUN named
  in the log; the plugin's teardown, which waits for the same call, is then cut short too;
- the default limit (60 s) and a second SIGTERM 1 s after the first: exit 1 at once, saying why.
And one whose LUN never answers a read of its second half, with such a read in flight when
SIGTERM comes: before, the shutdown waited for that read for ever (closing the connection
aborted the read, and the abort waited for the backend), and a second SIGTERM did nothing; now
the connection closes at once, the flush answers, and it exits 0 (an unanswered read loses
nothing) within a second.
(A signal while the LUNs are built: test_start_interrupted.py.)
"""
import signal
import subprocess
import time

from raw_iscsi import RawSession
from stuck_lun import STUCK_LBA, stuck_lun
from vstor_fixture import Server, TestFailure, check, main

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
    def server(name, flush_ms, extra=()):
        srv = Server(args, ["--lun", stuck_lun(args.workdir, flush_ms=flush_ms), *extra], name=name)
        srv.__enter__()
        return srv

    slow = server("slow", 500)
    bounded = server("bounded", -1, ["--final-flush-timeout", "2"])
    again = server("again", -1)
    read = Server(args, ["--target", READ_TARGET, "--lun", stuck_lun(args.workdir, hang_reads=1)], name="read")
    read.__enter__()
    session = RawSession("127.0.0.1", read.iscsi_port)
    session.login(READ_TARGET)
    session.read16(1, STUCK_LBA, 4096)  # in the half that never answers
    try:
        time.sleep(0.5)  # the READ reaches the backend
        t0 = time.monotonic()
        for srv in (slow, bounded, again, read):
            srv.proc.send_signal(signal.SIGTERM)
        rc = wait_exit(read, 1 + SLACK_S)
        read_s = time.monotonic() - t0
        log = read.log_text()
        check(rc == 0 and "final flush" not in log, f"a READ the backend never answers at SIGTERM: exit {rc}\n{log}")
        time.sleep(max(0.0, 1 - read_s))
        again.proc.send_signal(signal.SIGTERM)

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
        check(f"the LUNs have not closed within {TEARDOWN_BOUND_S} s of the final flush" in log,
              f"the teardown after the give-up was not bounded as expected:\n{log}")
        print(f"exits: slow flush 0, --final-flush-timeout 2 after {bounded_s:.1f} s, "
              f"second SIGTERM after {again_s:.1f} s, a READ never answered 0 after {read_s:.1f} s")
    finally:
        session.close()
        for srv in (slow, bounded, again, read):
            if srv.proc.poll() is None:
                srv.proc.kill()
                srv.proc.wait()
            srv.log.close()


main(run)
