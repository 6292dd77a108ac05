"""Write buffer budget: 4 sessions (two with InitialR2T=Yes, two with InitialR2T=No; all with
ImmediateData) each start 6 WRITEs of 8 MiB and send only half their data. Without a budget the
target buffers all of it (96 MiB); with --write-buffer-per-session 8M --write-buffer-total 16M
RSS must stay below the budget plus a margin, no R2T may go out beyond the budget, and MaxCmdSN
must not advance. Then every write is completed: all succeed and read back right.
"""
import time

from raw_iscsi import HalfSentWrites, RawSession, pump, pattern, sn_gt
from vstor_fixture import Server, check, main

MiB = 1 << 20
TARGET = "iqn.2026-11.org.vstor:disk0"
PER_SESSION, TOTAL = 8 * MiB, 16 * MiB
SESSIONS, WRITES, LENGTH = 4, 6, 8 * MiB
MARGIN = 12 * MiB  # receive buffers, allocator slack, the forced immediate/unsolicited bytes


def run(args):
    disk = f"file:{args.workdir}/disk.img,size={SESSIONS * WRITES * LENGTH // MiB + 8}M"
    extra = ["--lun", disk, "--write-buffer-per-session", "8M", "--write-buffer-total", "16M"]
    with Server(args, extra) as srv:
        sessions, drivers = [], []
        for i in range(SESSIONS):
            s = RawSession("127.0.0.1", srv.iscsi_port)
            initial_r2t = "Yes" if i % 2 == 0 else "No"
            s.login(TARGET, isid_last=i + 1, InitialR2T=initial_r2t, ImmediateData="Yes",
                    MaxRecvDataSegmentLength=262144, MaxBurstLength=16776192, FirstBurstLength=262144,
                    MaxOutstandingR2T=16)
            sessions.append(s)
            drivers.append(HalfSentWrites(s, i * WRITES * (LENGTH // 512), WRITES, LENGTH, tag_base=(i + 1) << 8))
        time.sleep(0.3)
        base = srv.rss_kib() * 1024
        for d in drivers:
            d.start()
        pump(drivers, 3.0, finishing=False)
        peak = max(srv.rss_kib() for _ in range(5)) * 1024
        growth = peak - base
        print(f"RSS {base / MiB:.1f} MiB -> {peak / MiB:.1f} MiB (+{growth / MiB:.1f}) with half-sent writes; "
              f"budget {TOTAL // MiB} MiB")
        check(growth < TOTAL + MARGIN,
              f"RSS grew by {growth / MiB:.1f} MiB with half-sent writes, budget {TOTAL // MiB} MiB "
              f"+ {MARGIN // MiB} MiB margin")
        granted = [len(d.got_r2t) * LENGTH for d in drivers]
        check(all(g <= max(PER_SESSION, LENGTH) for g in granted),
              f"R2Ts beyond the per-session budget: {[g // MiB for g in granted]} MiB granted per session")
        check(sum(granted) <= TOTAL + LENGTH,
              f"R2Ts beyond the total budget: {sum(granted) // MiB} MiB granted")
        for i, s in enumerate(sessions):
            check(not sn_gt(s.max_cmdsn, s.login_max_cmdsn),
                  f"session {i + 1}: MaxCmdSN advanced from {s.login_max_cmdsn} to {s.max_cmdsn} "
                  f"while the budget was used up")
        # Now send the rest: every write must finish, in whatever order the budget allows.
        for d in drivers:
            d.finish()
        pump(drivers, 25.0, finishing=True, until=lambda: all(d.done() for d in drivers))
        for i, d in enumerate(drivers):
            check(d.done(), f"session {i + 1}: only {len(d.status)} of {WRITES} writes finished")
            bad = {t: st for t, st in d.status.items() if st != 0}
            check(not bad, f"session {i + 1}: writes failed: {bad}")
        for i, d in enumerate(drivers):
            for t in d.tags:
                back = d.s.read_back(0x9000 + t, d.lba[t], LENGTH)
                check(back == pattern(t, 0, LENGTH), f"write {t:#x} of session {i + 1} reads back wrong")
        for s in sessions:
            s.close()
        check(srv.alive(), "vstor died")


if __name__ == "__main__":
    main(run)
