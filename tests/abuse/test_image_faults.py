"""Faults are visible (issue 13 section 7), against the real binary over NBD with qemu-io:
- an image truncated under a running server: reads past the new end fail (MEDIUM ERROR -> EIO)
  instead of returning zeroes with success, and the log says what happened;
- an image deleted under a running server: writes are refused, the log says so, and the final
  flush at SIGTERM fails, so vstor exits non-zero (before: exit 0, no line);
- backend write errors (EFBIG past RLIMIT_FSIZE, as ENOSPC would be) are logged at warn, a few
  lines per 10 s however many fail."""
import os
import time

from vstor_fixture import Server, check, main, run_tool

MiB = 1 << 20


def qemu_io(srv, *cmds):
    argv = ["qemu-io", "-f", "raw"]
    for c in cmds:
        argv += ["-c", c]
    r = run_tool(argv + [f"nbd://127.0.0.1:{srv.nbd_port}/lun0"], timeout=30)
    return r.returncode, r.stdout + r.stderr


def truncated(args):
    img = os.path.join(args.workdir, "trunc.img")
    with Server(args, ["--lun", f"file:{img},size=4M"], nbd=True, name="trunc") as srv:
        rc, out = qemu_io(srv, "write -P 0xab 0 4M")
        check(rc == 0 and "error" not in out.lower(), f"initial write: {out}")
        os.truncate(img, 1 * MiB)
        rc, out = qemu_io(srv, "read 2M 64k")
        check("read failed" in out, f"a read past the truncated end succeeded (zeroes with GOOD): {out}")
        rc, out = qemu_io(srv, "read -P 0xab 0 64k")
        check("read failed" not in out and "verification failed" not in out, f"the first MiB: {out}")
        log = srv.log_text()
        check("shrank under the server to 1048576 bytes" in log, "no log line about the truncation")
        print("ok: truncated image: reads past the end fail, the log says so")
        check(srv.stop() == 0, "exit status after a truncation (the image still exists)")


def deleted(args):
    img = os.path.join(args.workdir, "gone.img")
    with Server(args, ["--lun", f"file:{img},size=4M"], nbd=True, name="gone") as srv:
        rc, out = qemu_io(srv, "write -P 0xcd 0 64k")
        check(rc == 0 and "failed" not in out, f"write: {out}")
        os.unlink(img)
        time.sleep(1.2)  # noticed within a second of I/O
        rc, out = qemu_io(srv, "write -P 0xcd 64k 64k")
        check("write failed" in out, f"a write to a deleted image succeeded: {out}")
        rc, out = qemu_io(srv, "read -P 0xcd 0 64k")
        check("failed" not in out, f"reads of a deleted image should go on (copy the data off): {out}")
        status = srv.stop()
        with open(srv.log_path, errors="replace") as f:
            log = f.read()
        check("the image was deleted while being served" in log, "no log line about the deletion")
        check("the final flush failed" in log, "no log line about the failed final flush")
        check(status == 1, f"exit status {status} after a failed final flush, expected 1")
        print("ok: deleted image: writes refused, final flush fails, exit 1")


def write_errors(args):
    img = os.path.join(args.workdir, "big.img")
    with open(img, "wb") as f:  # made here: vstor could not size it past its own RLIMIT_FSIZE
        f.truncate(8 * MiB)
    with Server(args, ["--lun", f"file:{img}"], nbd=True, name="efbig", fsize=2 * MiB) as srv:
        writes = [f"write -P 0x11 {4 * MiB + i * 4096} 4k" for i in range(40)]
        rc, out = qemu_io(srv, *writes)
        check(out.count("write failed") == 40, f"writes past RLIMIT_FSIZE should fail: {out[:500]}")
        lines = [l for l in srv.log_text().splitlines() if "File too large" in l]
        check(1 <= len(lines) <= 6, f"expected a few rate-limited warn lines, got {len(lines)}")
        check("[warning]" in lines[0] and img in lines[0] and "offset 4194304" in lines[0], lines[0])
        check(srv.alive(), "vstor died")
        print(f"ok: 40 failing writes -> {len(lines)} log line(s): {lines[0]}")


def run(args):
    truncated(args)
    deleted(args)
    write_errors(args)


main(run)
