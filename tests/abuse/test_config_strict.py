"""Strict configuration (issue 13 section 6): a typo, a wrong type or an out-of-range value in the
TOML file or on the command line is refused with exit 2 and one line naming the key or flag, and
nothing starts. Before: unknown keys inside [[target]] were ignored (`cahp = ...` served the
target without CHAP), `loops = "two"` was ignored, `loops = -3` grew memory until the OOM killer
came, `--loops 100000` aborted with an uncaught std::system_error and `--loops -1` exited 104."""
import os
import subprocess

from vstor_fixture import Server, check, main

TARGET = '[[target]]\nname = "iqn.2026-11.org.vstor:strict"\nluns = ["mem:1M"]\n'


def refused(args, argv, expect, config=None):
    """Runs `vstor serve ARGV` (with CONFIG written to a file and passed as --config) and checks:
    exit 2 within seconds, exactly one output line, containing every string in EXPECT."""
    cmd = [args.vstor, "serve", "--control", "off", "--listen", "127.0.0.1:0"] + list(argv)
    if config is not None:
        path = os.path.join(args.workdir, "strict.toml")
        with open(path, "w") as f:
            f.write(config)
        cmd = [args.vstor, "serve", "--control", "off", "--config", path] + list(argv)
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=10, cwd=args.workdir)
    except subprocess.TimeoutExpired:
        check(False, f"{cmd} did not exit within 10 s (it should refuse at once)")
    out = (r.stdout + r.stderr).strip()
    lines = [l for l in out.splitlines() if l.strip()]
    what = config.strip().splitlines()[-1] if config else " ".join(argv)
    check(r.returncode == 2, f"[{what}]: exit {r.returncode}, expected 2; output: {out!r}")
    check(len(lines) == 1, f"[{what}]: expected one line, got {len(lines)}: {out!r}")
    for e in expect:
        check(e in lines[0], f"[{what}]: {lines[0]!r} does not say {e!r}")
    print(f"ok: {what} -> {lines[0]}")


def names(args):
    """iSCSI names (RFC 7143 4.2.7) in --target, --allow, --mask, the file and `vstor ctl`; a mask
    naming a LUN that does not exist. Before, all of these were accepted."""
    refused(args, ["--lun", "mem:1M", "--target", "disk0"], ["--target 'disk0'", "'iqn.', 'eui.' or 'naa.'"])
    refused(args, ["--lun", "mem:1M", "--target", "iqn.2026-11.org.vstor:Disk0"],
            ["--target", "lower case", "iqn.2026-11.org.vstor:disk0"])
    refused(args, ["--lun", "mem:1M", "--allow", "iqn.1993-08.org.debian:01:host 1"], ["--allow", "byte 0x20 at position 31"])
    refused(args, ["--lun", "mem:1M", "--mask", "eui.1234=0"], ["mask 'eui.1234=0'", "16 hex digits"])
    refused(args, ["--lun", "mem:1M", "--mask", "iqn.1993-08.org.debian:01:h=0,3"], ["has no LUN 3"])
    refused(args, [], ["target 1: name 'strict'"], config='[[target]]\nname = "strict"\nluns = ["mem:1M"]\n')
    refused(args, [], ["target 1: mask", "has no LUN 2"],
            config=TARGET + 'masks = ["iqn.1993-08.org.debian:01:h=2"]\n')
    with Server(args, ["--lun", "mem:1M"], control=True) as srv:
        for words, expect in ((["target", "add", "disk2"], "target name 'disk2'"),
                              (["acl", "allow", "iqn.x"], "initiator 'iqn.x'"),
                              (["acl", "deny", "naa.12"], "initiator 'naa.12'")):
            r = srv.ctl(*words, check_rc=False)
            check(r.returncode == 1 and expect in r.stderr, f"ctl {' '.join(words)}: {r.returncode} {r.stderr!r}")
            print(f"ok: ctl {' '.join(words)} -> {r.stderr.strip()}")
        check("disk2" not in srv.ctl("status").stdout, "a refused target was added")


def failed_start(args):
    """A failed start leaves nothing behind, and a busy --control path fails before any port or
    image. Before, the images created for the earlier LUNs stayed, and the control socket was
    tried last, after iSCSI already served (its "serving" lines were printed)."""
    created = os.path.join(args.workdir, "new", "sub", "a.img")
    refused(args, ["--lun", f"file:{created},size=1M", "--lun", "file:missing.img"],
            ["missing.img", "does not exist"])
    check(not os.path.exists(os.path.join(args.workdir, "new")),
          "the image (and directories) created for LUN 0 were left behind by a failed start")
    # A failure after the LUNs are built: the iSCSI port is taken.
    with Server(args, ["--lun", "mem:1M"], control=True, name="first") as first:
        late = os.path.join(args.workdir, "late.img")
        refused(args, ["--lun", f"file:{late},size=1M", "--listen", f"127.0.0.1:{first.iscsi_port}"],
                ["127.0.0.1"])
        check(not os.path.exists(late), "the image created before the port failed was left behind")
        # An explicit control path that another vstor answers on: refused first.
        busy = os.path.join(args.workdir, "busy.img")
        cmd_tail = ["--lun", f"file:{busy},size=1M", "--nbd-listen", "127.0.0.1:0"]
        r = subprocess.run([args.vstor, "serve", "--listen", "127.0.0.1:0", "--control", first.control] + cmd_tail,
                           capture_output=True, text=True, timeout=10, cwd=args.workdir)
        out = (r.stdout + r.stderr).strip()
        check(r.returncode == 2, f"busy control path: exit {r.returncode}: {out!r}")
        check(len(out.splitlines()) == 1 and "already listening on control socket" in out,
              f"busy control path: expected one line and no 'serving' lines: {out!r}")
        check(not os.path.exists(busy), "an image was created although the control path was busy")
        check("iqn.2026-11.org.vstor:disk0" in first.ctl("status").stdout, "the first server lost its socket")
        print(f"ok: busy --control -> {out}")


def run(args):
    # TOML: unknown keys anywhere, wrong types, out-of-range values.
    refused(args, [], ["target 1", "unknown key 'cahp'", "did you mean 'chap'"],
            config=TARGET + 'cahp = "user:a-long-secret1"\n')
    refused(args, [], ["unknown key 'lops'"], config='lops = 2\n' + TARGET)
    refused(args, [], ["[nbd]", "unknown key 'tsl'"], config=TARGET + '[nbd]\ntsl = "on"\n')
    refused(args, [], ["'loops' must be a whole number", "not a string"], config='loops = "two"\n' + TARGET)
    refused(args, [], ["'loops' = -3 is out of range"], config='loops = -3\n' + TARGET)
    refused(args, [], ["'nbd' must be true or false"], config=TARGET + 'nbd = "yes"\n')
    # Flags.
    refused(args, ["--lun", "mem:1M", "--loops", "100000"], ["--loops", "100000"])
    refused(args, ["--lun", "mem:1M", "--loops", "-1"], ["--loops"])
    refused(args, ["--lun", "mem:1M", "--loops", "two"], ["--loops"])
    refused(args, ["--lun", "mem:1M", "--no-such-flag"], ["--no-such-flag"])
    names(args)
    failed_start(args)


main(run)
