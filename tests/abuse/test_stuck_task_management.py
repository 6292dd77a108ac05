"""Task management that waits for a backend which never answers must not hold up anyone else's.
A function completes only once the commands it aborts have ended (SAM-5 7.1), and a backend cannot
be asked to drop one, so it may wait for good. It used to wait on one of two threads shared by
the whole server: two such functions took both, and every later one, to any LUN of any session,
got no answer at all.

LUN 0 is a Python LUN whose second half never answers a read; LUN 1 is a mem LUN. Session A reads
LUN 0's second half and sends ABORT TASK, ABORT TASK SET and LOGICAL UNIT RESET for it: none is
answered (the read still runs). Session B's LOGICAL UNIT RESET of LUN 1, and its ABORT TASK of a
tag that does not exist, are answered within 2 s (function complete; task does not exist), and
LUN 1 then reports the reset's unit attention (29h/03h).
"""
import time

from raw_iscsi import ABORT_TASK, ABORT_TASK_SET, LOGICAL_UNIT_RESET, RawSession
from stuck_lun import STUCK_LBA, stuck_lun
from vstor_fixture import Server, check, main

TARGET = "iqn.2026-12.org.vstor:stucktmf"


def run(args):
    luns = ["--lun", stuck_lun(args.workdir, hang_reads=1), "--lun", "mem:16M"]
    with Server(args, ["--target", TARGET, *luns], name="stucktmf") as srv:
        a = RawSession("127.0.0.1", srv.iscsi_port)
        a.login(TARGET, isid_last=1)
        a.read16(1, STUCK_LBA, 4096)  # never answered
        time.sleep(0.3)
        a.tmf(0x10, ABORT_TASK, lun=0, ref_itt=1, ref_cmdsn=a.cmdsn - 1)
        a.tmf(0x11, ABORT_TASK_SET, lun=0)
        a.tmf(0x12, LOGICAL_UNIT_RESET, lun=0)
        early = a.tmf_responses(0.5)
        check(not early, f"task management answered while the read it aborts still runs: {early}")

        b = RawSession("127.0.0.1", srv.iscsi_port, timeout=5)
        b.login(TARGET, isid_last=2)
        t0 = time.monotonic()
        b.tmf(0x20, LOGICAL_UNIT_RESET, lun=1)
        b.tmf(0x21, ABORT_TASK, lun=1, ref_itt=0x999, ref_cmdsn=b.cmdsn - 1)
        got = b.tmf_responses(2, want=(0x20, 0x21))
        took = time.monotonic() - t0
        print(f"session B's task management with three of A's waiting for the backend: {got} after {took:.2f} s")
        check(got.get(0x20) == 0, f"LOGICAL UNIT RESET of LUN 1: {got.get(0x20, 'no answer within 2 s')}")
        check(got.get(0x21) == 1, f"ABORT TASK of an unknown tag: {got.get(0x21, 'no answer within 2 s')}")
        status, sense = b.test_unit_ready(3, lun=1)
        check(status == 2 and sense[1:] == (0x29, 0x03), f"LUN 1 after its reset: status {status:#x} {sense}")
        check(not a.tmf_responses(0.2), "session A's task management was answered with the read still running")
        a.close()
        b.close()


main(run)
