"""Connection limits and the cost of idle connections (issue 13, sections 2 and 3).

vstor serves iSCSI and NBD with --max-connections 2010 --max-connections-per-address 2000.
2,000 idle connections from 127.0.0.2 are held on each; then
- one more from 127.0.0.2 is closed at once (per-address limit),
- iscsi-ls / nbdinfo from 127.0.0.1 still log in while the 2,000 are held,
- of 20 more from 127.0.0.3 only the 10 under --max-connections stay open,
- the RSS each idle connection costs is reported and must stay under 16 KiB (it was 52-64 KiB:
  a 64 KiB receive buffer per connection, allocated before the first byte arrived).
"""
import socket
import time

from vstor_fixture import Server, check, main, raise_own_nofile, run_tool

IDLE = 2000
TOTAL = 2010
MAX_KIB_PER_CONNECTION = 16


def connect(port, source):
    return socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0))


def closed_at_once(s, wait=1.0):
    """True when the target closed (or reset) the connection within `wait` seconds (an NBD
    greeting, which an accepted connection gets at once, is only peeked at)."""
    s.settimeout(wait)
    try:
        return s.recv(4096, socket.MSG_PEEK) == b""
    except socket.timeout:
        return False
    except OSError:
        return True


def wait_fds(srv, at_least, what):
    deadline = time.monotonic() + 15
    while srv.fd_count() < at_least:
        check(time.monotonic() < deadline, f"{what}: vstor holds only {srv.fd_count()} descriptors")
        time.sleep(0.05)


def hold_idle(srv, port, name):
    """Opens IDLE idle connections from 127.0.0.2 and returns them with the RSS each one costs."""
    # Warm-up: the first connections create the allocator's per-thread state; not counted.
    warm = [connect(port, "127.0.0.4") for _ in range(20)]
    time.sleep(0.3)
    for s in warm:
        s.close()
    time.sleep(0.3)
    fds0, rss0 = srv.fd_count(), srv.rss_kib()
    held = [connect(port, "127.0.0.2") for _ in range(IDLE)]
    wait_fds(srv, fds0 + IDLE, name)
    time.sleep(0.5)
    per = (srv.rss_kib() - rss0) / IDLE
    print(f"{name}: {IDLE} idle connections held, RSS {rss0} KiB -> {srv.rss_kib()} KiB, {per:.1f} KiB each")
    return held, per


def check_limits(srv, port, name, client_cmd, expect_out):
    held, per = hold_idle(srv, port, name)
    extra = connect(port, "127.0.0.2")
    check(closed_at_once(extra), f"{name}: connection {IDLE + 1} from one address was not closed at once")
    extra.close()
    r = run_tool(client_cmd, timeout=20)
    check(r.returncode == 0 and expect_out in r.stdout,
          f"{name}: {' '.join(client_cmd)} failed while {IDLE} connections were held: {r.stdout}{r.stderr}")
    time.sleep(0.3)  # the client's connection is gone: its place is free again
    more = [connect(port, "127.0.0.3") for _ in range(20)]
    refused = sum(closed_at_once(s, 0.5) for s in more)
    check(refused == 20 - (TOTAL - IDLE),
          f"{name}: {refused} of 20 connections past {IDLE} held were closed, expected {20 - (TOTAL - IDLE)}")
    for s in held + more:
        s.close()
    check(per < MAX_KIB_PER_CONNECTION, f"{name}: an idle connection costs {per:.1f} KiB of RSS")
    check("refused a connection from 127.0.0.2" in srv.log_text(), f"{name}: no log line for the refusal")


def run(args):
    raise_own_nofile(IDLE + 200)
    extra = ["--lun", "mem:16M", "--loops", "1", "--login-timeout", "3600", "--nbd-handshake-timeout", "3600",
             "--max-connections", str(TOTAL),
             "--max-connections-per-address", str(IDLE)]
    with Server(args, extra, nbd=True, nofile=IDLE * 2 + 200) as srv:
        check_limits(srv, srv.iscsi_port, "iscsi", ["iscsi-ls", "-s", f"iscsi://127.0.0.1:{srv.iscsi_port}"],
                     "iqn.")
        check_limits(srv, srv.nbd_port, "nbd", ["nbdinfo", f"nbd://127.0.0.1:{srv.nbd_port}"], "export-size")
        check(srv.alive(), "vstor died")
        check(srv.stop() == 0, "vstor did not exit 0 on SIGTERM")


main(run)
