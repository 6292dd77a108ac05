"""An initiator that goes away while one of its commands waits in a backend that never answers
must not freeze the other sessions. Closing its connection aborts its commands, and an abort
must wait for a running command to finish (a backend cannot be asked to drop one): that wait
used to run on the connection's event loop, so every session on that loop (here the only one,
`--loops 1`) stopped: no login, no command to any LUN, for as long as the backend did not answer.

LUN 0 is a Python LUN whose second half never answers a read; LUN 1 is a mem LUN. Session A
reads LUN 0's second half and drops its connection; then a new session logs in, gets GOOD to a
TEST UNIT READY of LUN 1 and reads LUN 0's first half, all within 3 s (before: no login at all).
"""
import time

from raw_iscsi import RawSession
from vstor_fixture import Server, check, main

TARGET = "iqn.2026-12.org.vstor:stuck"

SCRIPT = '''
import threading

thread_model = "parallel"


def open(readonly):
    return bytearray(1 << 20)


def get_size(h):
    return len(h)


def pread(h, buf, offset, flags):
    if offset >= len(h) // 2:
        threading.Event().wait()  # a store that never answers this read
    buf[:] = h[offset:offset + len(buf)]


def pwrite(h, buf, offset, flags):
    h[offset:offset + len(buf)] = buf
'''


def run(args):
    script = f"{args.workdir}/never_answers.py"
    with open(script, "w") as f:
        f.write(SCRIPT)
    with Server(args, ["--loops", "1", "--target", TARGET, "--lun", f"python:{script}", "--lun", "mem:16M"],
                name="stuck") as srv:
        a = RawSession("127.0.0.1", srv.iscsi_port)
        a.login(TARGET, isid_last=1)
        a.read16(1, 1536, 4096)  # LBA 1536 of 2048: never answered
        time.sleep(0.5)
        a.close()  # the initiator gives up on it and goes away
        time.sleep(0.3)

        t0 = time.monotonic()
        b = RawSession("127.0.0.1", srv.iscsi_port, timeout=5)
        b.login(TARGET, isid_last=2)
        login_s = time.monotonic() - t0
        status, sense = b.test_unit_ready(2, lun=1)
        check(status == 0, f"TEST UNIT READY of LUN 1: status {status:#x} {sense}")
        back = b.read_back(3, 8, 4096, timeout=5)  # LUN 0's first half, which answers
        check(back == bytes(4096), "LUN 0's first half did not read back as written (zeroes)")
        took = time.monotonic() - t0
        print(f"a new session after the drop: login after {login_s:.2f} s, LUN 1 and LUN 0 answered after {took:.2f} s")
        check(took < 3, f"the other sessions waited {took:.1f} s for the dropped one's command")
        b.close()


main(run)
