"""A `vstor serve` that is still building its LUNs (here: a Python LUN that takes 30 s to open,
as an RBD LUN may wait for its cluster) has claimed its control socket but answers nothing yet.

- `vstor ctl --timeout 1 status` gives up after about 1 s with an error that says why (before:
  no bound, the call waited as long as the start);
- `vstor ctl status` without a timeout says on stderr, after 5 s, that it is waiting and why;
- SIGTERM ends the start at once (exit 130: the signals are blocked from the start, so that no
  thread takes a second one by its default action, and this thread takes this one), and removes
  what the start created: LUN 0's new image and the directories made for it, and the control
  socket (before: all three were left behind).
"""
import os
import signal
import subprocess
import time

from vstor_fixture import TestFailure, check, main

SCRIPT = '''
import time

_cfg = {}


def config(key, value):
    _cfg[key] = int(value)


def open(readonly):
    time.sleep(_cfg.get("open_ms", 0) / 1000)
    return bytearray(1 << 20)


def get_size(h):
    return len(h)


def pread(h, buf, offset, flags):
    buf[:] = h[offset:offset + len(buf)]
'''


def wait_for(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TestFailure(f"{what}: not after {timeout} s")
        time.sleep(0.05)


def run(args):
    script = os.path.join(args.workdir, "slow_open.py")
    with open(script, "w") as f:
        f.write(SCRIPT)
    made = os.path.join(args.workdir, "made")
    image = os.path.join(made, "deep", "new.img")
    sock = os.path.join(args.workdir, "ctl.sock")
    log_path = os.path.join(args.workdir, "opening.log")
    waiting_path = os.path.join(args.workdir, "ctl-waiting.err")
    with open(log_path, "wb") as log:
        srv = subprocess.Popen([args.vstor, "serve", "--control", sock, "--listen", "127.0.0.1:0",
                                "--lun", f"file:{image},size=8M", "--lun", f"python:{script},open_ms=30000"],
                               stdout=log, stderr=subprocess.STDOUT, cwd=args.workdir)
    waiting = None
    try:
        wait_for("LUN 0's image created and the control socket claimed",
                 lambda: os.path.exists(image) and os.path.exists(sock), 10)

        t0 = time.monotonic()
        r = subprocess.run([args.vstor, "ctl", "--control", sock, "--timeout", "1", "status"],
                           capture_output=True, text=True, timeout=20)
        took = time.monotonic() - t0
        check(r.returncode == 1 and f"no answer from the control socket {sock} within 1 s" in r.stderr,
              f"ctl --timeout 1 against a server still building: exit {r.returncode}\n{r.stderr}")
        check(1 <= took < 5, f"ctl --timeout 1 took {took:.1f} s")

        with open(waiting_path, "w") as err:
            waiting = subprocess.Popen([args.vstor, "ctl", "--control", sock, "status"],
                                       stdout=subprocess.DEVNULL, stderr=err)
        wait_for("ctl without --timeout saying it waits",
                 lambda: "no answer yet from" in open(waiting_path).read(), 10)
        check(waiting.poll() is None, "ctl without --timeout ended before the server answered")

        srv.send_signal(signal.SIGTERM)
        try:
            rc = srv.wait(10)
        except subprocess.TimeoutExpired:
            raise TestFailure("SIGTERM while the LUNs are built did not end vstor within 10 s")
        log = open(log_path, "rb").read().decode(errors="replace")
        check(rc == 130 and "SIGTERM while building the LUNs: stopped before serving" in log,
              f"SIGTERM while the LUNs are built: exit {rc}\n{log}")
        check(f"removed what this start created: {made}, {os.path.dirname(image)}, {image}" in log,
              f"what was removed is not named:\n{log}")
        check(not os.path.exists(made), f"{made} is still there after the interrupted start")
        check(not os.path.exists(sock), f"the control socket {sock} is still there after the interrupted start")

        # The waiting call ends with the server: an error, not a hang.
        try:
            rc = waiting.wait(5)
        except subprocess.TimeoutExpired:
            raise TestFailure("ctl kept waiting after the server ended")
        check(rc == 1, f"ctl whose server ended: exit {rc}")
        print(f"ctl --timeout 1 gave up after {took:.1f} s; the interrupted start removed its image and socket")
    finally:
        for p in (srv, waiting):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


main(run)
