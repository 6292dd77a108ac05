"""A Python LUN (1 MiB) that plays a store which does not answer, for the abuse tests:

    from stuck_lun import stuck_lun
    spec = stuck_lun(args.workdir, hang_reads=1)     # "python:PATH,hang_reads=1" for --lun

hang_reads=1: a read of its second half never answers (the first half reads back as written);
flush_ms=N: each flush takes N ms, -1 never answers.
"""
import os

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

# Its blocks (512 bytes): LBAs from here on are in the half whose reads never answer.
STUCK_LBA = 1024


def stuck_lun(workdir, **config):
    """Writes the script into workdir; returns the --lun spec with config's keys."""
    path = os.path.join(workdir, "stuck_lun.py")
    with open(path, "w") as f:
        f.write(SCRIPT)
    return "python:" + ",".join([path] + [f"{k}={v}" for k, v in config.items()])
