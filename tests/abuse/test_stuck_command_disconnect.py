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
from stuck_lun import STUCK_LBA, stuck_lun
from vstor_fixture import Server, check, main

TARGET = "iqn.2026-12.org.vstor:stuck"


def run(args):
    luns = ["--lun", stuck_lun(args.workdir, hang_reads=1), "--lun", "mem:16M"]
    with Server(args, ["--loops", "1", "--target", TARGET, *luns], name="stuck") as srv:
        a = RawSession("127.0.0.1", srv.iscsi_port)
        a.login(TARGET, isid_last=1)
        a.read16(1, STUCK_LBA, 4096)  # never answered
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
