"""NBD obeys the access rules iSCSI obeys (issue 13, section 1) and closes half-done handshakes.

The attack: `--nbd-listen ... --lun mem:64M --lun mem:32M --chap ... --allow IQN --mask IQN=0` let an
unauthenticated `qemu-io nbd://host:port/lun1` read and write masked LUN 1. Now:
- that configuration is refused at start (exit 2, one line), and nothing listens;
- `--nbd-insecure-unauthenticated` is the explicit opt-in to the old behaviour, with a warning;
- with `--nbd-tls require,psk=...` a PSK identity mapped to the allowed IQN gets exactly its masked
  LUN through qemu-io and nbdinfo, an unlisted identity gets nothing, and `vstor ctl acl` changes
  apply to NBD (a live qemu-io connection of an initiator that is denied is closed);
- an NBD connection that stops in the middle of option haggling is closed after
  --nbd-handshake-timeout (shortened to 2 s here; 15 s by default).
"""
import json
import os
import socket
import subprocess
import time

from vstor_fixture import Server, TestFailure, check, free_port, main, run_tool

ALICE = "iqn.2026-01.org.example:alice"
BOB = "iqn.2026-01.org.example:bob"
GUARDED = ["--lun", "mem:64M", "--lun", "mem:32M", "--chap", "user:averylongsecret1",
           "--allow", ALICE, "--mask", f"{ALICE}=0"]
KEYS = ("alice:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"
        "bob:ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n")


def refused_at_start(args):
    port = free_port()
    cmd = [args.vstor, "serve", "--control", "off", "--listen", "127.0.0.1:0",
           "--nbd-listen", f"127.0.0.1:{port}"] + GUARDED
    proc = subprocess.Popen(cmd, cwd=args.workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        # Today's code starts and serves: show that the attack works, then fail.
        r = run_tool(["qemu-io", "-f", "raw", "-c", "write -P 0x66 0 4k", f"nbd://127.0.0.1:{port}/lun1"])
        proc.kill()
        proc.communicate()
        raise TestFailure("serve started with a guarded target on unauthenticated NBD; anonymous qemu-io "
                          f"write to masked lun1: rc={r.returncode} {r.stdout.strip()[:80]}")
    check(proc.returncode == 2, f"guarded target on plain NBD: exit {proc.returncode}, wanted 2")
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1, f"wanted one error line, got {lines}")
    check("guarded" in lines[0] and "--nbd-insecure-unauthenticated" in lines[0] and "TLS" in lines[0],
          f"the line must say why and how: {lines[0]}")
    check("serving" not in out, "it printed that it serves")


def insecure_opt_in(args):
    with Server(args, GUARDED + ["--nbd-insecure-unauthenticated"], nbd=True, name="insecure") as srv:
        r = run_tool(["qemu-io", "-f", "raw", "-c", "read 0 4k", f"nbd://127.0.0.1:{srv.nbd_port}/lun1"])
        check(r.returncode == 0 and "read 4096/4096" in r.stdout, f"opt-in: anonymous read refused: {r.stderr}")
        log = srv.log_text()
        check("[warning]" in log and "--nbd-insecure-unauthenticated" in log, "no warning logged at start")


def qemu_io_psk(srv, keydir, user, export, *commands):
    cmd = ["qemu-io", "--object", f"tls-creds-psk,id=tls0,endpoint=client,dir={keydir},username={user}"]
    for c in commands:
        cmd += ["-c", c]
    cmd += ["--image-opts", "driver=raw,file.driver=nbd,file.server.type=inet,file.server.host=127.0.0.1,"
            f"file.server.port={srv.nbd_port},file.export={export},file.tls-creds=tls0"]
    return cmd


def nbdinfo_list(srv, keyfile, user):
    r = run_tool(["nbdinfo", "--list", "--json", f"nbds://{user}@127.0.0.1:{srv.nbd_port}?tls-psk-file={keyfile}"])
    check(r.returncode == 0, f"nbdinfo --list as {user}: {r.stderr.strip()}")
    return sorted(e["export-name"] for e in json.loads(r.stdout)["exports"])


def psk_identities(args):
    keydir = os.path.join(args.workdir, "psk")
    os.makedirs(keydir, exist_ok=True)
    keyfile = os.path.join(keydir, "keys.psk")  # qemu's tls-creds-psk reads DIR/keys.psk
    with open(keyfile, "w") as f:
        f.write(KEYS)
    extra = GUARDED + ["--nbd-tls", f"require,psk={keyfile}", "--nbd-identity", f"alice={ALICE}",
                       "--nbd-identity", f"bob={BOB}"]
    with Server(args, extra, nbd=True, control=True, name="psk") as srv:
        # Without TLS there is nothing to be had.
        r = run_tool(["qemu-io", "-f", "raw", "-c", "read 0 4k", f"nbd://127.0.0.1:{srv.nbd_port}/lun1"])
        check(r.returncode != 0, "anonymous qemu-io read lun1 on a TLS-only server")
        # alice: exactly LUN 0, in the list and through qemu-io.
        check(nbdinfo_list(srv, keyfile, "alice") == ["lun0"], "alice's export list")
        r = run_tool(qemu_io_psk(srv, keydir, "alice", "lun0", "write -P 0x5a 0 4k", "read -P 0x5a 0 4k"))
        check(r.returncode == 0 and "read 4096/4096" in r.stdout, f"alice on lun0: {r.stdout}{r.stderr}")
        r = run_tool(qemu_io_psk(srv, keydir, "alice", "lun1", "read 0 4k"))
        check(r.returncode != 0 and "read 4096" not in r.stdout, f"alice got masked lun1: {r.stdout}")
        r = run_tool(["nbdinfo", f"nbds://alice@127.0.0.1:{srv.nbd_port}/lun1?tls-psk-file={keyfile}"])
        check(r.returncode != 0, "nbdinfo as alice opened masked lun1")
        # bob proves who he is, but the allow list does not name him ... until ctl says so.
        check(nbdinfo_list(srv, keyfile, "bob") == [], "bob (not allowed) sees exports")
        srv.ctl("acl", "allow", BOB)
        check(nbdinfo_list(srv, keyfile, "bob") == ["lun0", "lun1"], "ctl acl allow did not reach NBD")
        # A live alice connection ends when alice is denied.
        served = srv.log_text().count("export 'lun0'")
        q = subprocess.Popen(qemu_io_psk(srv, keydir, "alice", "lun0"), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 10
        while srv.log_text().count("export 'lun0'") == served and time.monotonic() < deadline:
            time.sleep(0.1)
        r = srv.ctl("acl", "deny", ALICE)
        check('"nbd_connections_closed":1' in r.stdout, f"ctl acl deny closed no NBD connection: {r.stdout}")
        out, _ = q.communicate("read -P 0x5a 0 4k\nquit\n", timeout=20)
        check("read 4096/4096" not in out, f"denied alice still reads over her open connection: {out}")
        check(nbdinfo_list(srv, keyfile, "alice") == [], "denied alice still lists exports")


def handshake_timeout(args):
    with Server(args, ["--lun", "mem:16M", "--nbd-handshake-timeout", "2"], nbd=True, name="timeout") as srv:
        half = socket.create_connection(("127.0.0.1", srv.nbd_port))
        half.settimeout(10)
        greeting = half.recv(18)
        check(len(greeting) == 18, "no NBD greeting")
        half.sendall(b"\x00\x00\x00\x03")  # client flags, then silence mid-haggling
        start = time.monotonic()
        try:
            data = half.recv(100)
        except socket.timeout:
            raise TestFailure("a half-done NBD handshake was still open after 10 s")
        waited = time.monotonic() - start
        check(data == b"", f"unexpected bytes {data!r}")
        check(1.5 <= waited <= 5, f"closed after {waited:.1f} s, wanted about 2 s")
        half.close()
        # A client that finishes the handshake is served normally.
        r = run_tool(["qemu-io", "-f", "raw", "-c", "read 0 4k", f"nbd://127.0.0.1:{srv.nbd_port}/lun0"])
        check(r.returncode == 0, f"normal client after the timeout: {r.stderr}")
        check("handshake not finished within 2 s" in srv.log_text(), "the close was not logged")


def run(args):
    refused_at_start(args)
    insecure_opt_in(args)
    psk_identities(args)
    handshake_timeout(args)


main(run)
