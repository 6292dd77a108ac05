#!/usr/bin/env python3
"""`make bench` scenario: memory under half-sent writes (issue 13, section 3).

Starts `vstor serve` on a null LUN (writes are discarded, so only buffers count), opens 4 iSCSI
sessions from raw PDUs (two with InitialR2T=Yes, two with InitialR2T=No, all with ImmediateData),
starts 64 WRITEs of 64 MiB (16 per session) and sends half of the data each may send: immediate
data, the unsolicited first burst, and what R2Ts ask for below the half-way mark. Then it reads
the target's RSS (current and peak, VmHWM) and writes budget, RSS and the verdict (goal: peak RSS
under the total write buffer budget + 100 MiB) to the JSON file given.

    bench/write_budget.py VSTOR OUT.json [--write-buffer-total SIZE] [--write-buffer-per-session SIZE]

Without the flags the server's defaults are measured. The data sent is a constant pattern: the
target's memory is what is measured, not the client's.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "abuse"))
from raw_iscsi import HalfSentWrites, RawSession, pump  # noqa: E402

MiB = 1 << 20
TARGET = "iqn.2026-11.org.vstor:budget-bench"
SESSIONS, WRITES, LENGTH = 4, 16, 64 * MiB
DEFAULT_TOTAL = 1024 * MiB  # util::WriteBudget::kDefaultTotal
MARGIN = 100 * MiB
FILL = memoryview(bytes([0xA5]) * (16 * MiB))


def constant(_tag, _offset, length):
    return FILL[:length]


def size_bytes(text):
    units = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}
    text = text.strip().upper()
    unit = text[-1] if text and text[-1] in units else ""
    return int(text[:len(text) - len(unit)]) << units[unit]


def rss(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("vstor")
    ap.add_argument("out")
    ap.add_argument("--write-buffer-total")
    ap.add_argument("--write-buffer-per-session")
    args = ap.parse_args()
    total = size_bytes(args.write_buffer_total) if args.write_buffer_total else DEFAULT_TOTAL
    port = free_port()
    cmd = [args.vstor, "serve", "--control", "off", "--log-level", "warn", "--listen", f"127.0.0.1:{port}",
           "--target", TARGET, "--lun", f"null:{SESSIONS * WRITES * LENGTH // MiB + 64}M"]
    if args.write_buffer_total:
        cmd += ["--write-buffer-total", args.write_buffer_total]
    if args.write_buffer_per_session:
        cmd += ["--write-buffer-per-session", args.write_buffer_per_session]
    srv = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        drivers = []
        for i in range(SESSIONS):
            s = RawSession("127.0.0.1", port)
            s.login(TARGET, isid_last=i + 1, InitialR2T="Yes" if i % 2 == 0 else "No", ImmediateData="Yes",
                    MaxRecvDataSegmentLength=262144, MaxBurstLength=16776192, FirstBurstLength=262144,
                    MaxOutstandingR2T=16)
            drivers.append(HalfSentWrites(s, i * WRITES * (LENGTH // 512), WRITES, LENGTH, tag_base=(i + 1) << 8,
                                          data=constant))
        base = rss(srv.pid, "VmRSS")
        start = time.monotonic()
        for d in drivers:
            d.start()
        pump(drivers, 10.0, finishing=False)  # every R2T the budget allows is answered up to half-way
        now = rss(srv.pid, "VmRSS")
        peak = rss(srv.pid, "VmHWM")
        granted = sum(len(d.got_r2t) for d in drivers)
        for d in drivers:
            d.s.close()
    finally:
        srv.terminate()
        srv.wait(20)
    result = {
        "writes": SESSIONS * WRITES,
        "write_mib": LENGTH // MiB,
        "sessions": SESSIONS,
        "budget_total_mib": total // MiB,
        "rss_before_mib": round(base / MiB, 1),
        "rss_mib": round(now / MiB, 1),
        "peak_rss_mib": round(peak / MiB, 1),
        "limit_mib": (total + MARGIN) // MiB,
        "writes_given_r2ts": granted,
        "seconds": round(time.monotonic() - start, 1),
        "met": peak < total + MARGIN,
    }
    json.dump(result, open(args.out, "w"), indent=2)
    print(f"{SESSIONS * WRITES} x {LENGTH // MiB} MiB half-sent writes: RSS {result['rss_mib']} MiB "
          f"(peak {result['peak_rss_mib']} MiB), budget {total // MiB} MiB + 100 MiB -> "
          f"{'met' if result['met'] else 'NOT met'}; {granted} writes got R2Ts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
