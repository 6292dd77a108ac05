"""Accept under descriptor exhaustion (issue 13, section 2).

vstor runs with RLIMIT_NOFILE 64; connections to the iSCSI portal use up its descriptors, then one
connection waits in the backlog of each of the four listeners (iSCSI, NBD, control socket,
/metrics), so every accept fails with EMFILE. The log must stay small meanwhile (the accept loops
used to spin: millions of lines), and once the connections are closed every listener must serve
again by itself (control and metrics used to stop accepting for good after one EMFILE).
"""
import os
import socket
import time

from vstor_fixture import Server, check, http_get, main, run_tool

NOFILE = 64
EXHAUSTED_FOR = 3.0  # seconds every listener is left failing


def connect_unix(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def run(args):
    with Server(args, ["--lun", "mem:16M", "--loops", "1"], nbd=True, control=True, metrics=True,
                nofile=NOFILE) as srv:
        held = []
        size_before = os.path.getsize(srv.log_path)
        # Fill vstor's descriptor table with iSCSI connections (each costs it one descriptor).
        deadline = time.monotonic() + 10
        while srv.fd_count() < NOFILE:
            check(time.monotonic() < deadline, f"vstor holds only {srv.fd_count()} descriptors")
            held.append(socket.create_connection(("127.0.0.1", srv.iscsi_port)))
            time.sleep(0.01)
        # One more connection waits in every listener's backlog: each accept now fails with EMFILE.
        held.append(socket.create_connection(("127.0.0.1", srv.iscsi_port)))
        held.append(socket.create_connection(("127.0.0.1", srv.nbd_port)))
        held.append(socket.create_connection(("127.0.0.1", srv.metrics_port)))
        held.append(connect_unix(srv.control))
        time.sleep(EXHAUSTED_FOR)
        check(srv.alive(), "vstor died while out of descriptors")
        grown = os.path.getsize(srv.log_path) - size_before
        failures = srv.log_text().count("accept failed")
        print(f"out of descriptors for {EXHAUSTED_FOR} s: log grew {grown} bytes, {failures} 'accept failed' lines")
        check(grown < 8192, f"the log grew {grown} bytes in {EXHAUSTED_FOR} s while out of descriptors")
        check(1 <= failures <= 8, f"{failures} 'accept failed' lines (expected one per listener)")
        for s in held:
            s.close()
        # Every listener resumes by itself.
        deadline = time.monotonic() + 10
        while srv.fd_count() > NOFILE - 8:
            check(time.monotonic() < deadline, f"vstor still holds {srv.fd_count()} descriptors")
            time.sleep(0.05)
        r = run_tool(["iscsi-ls", "-s", f"iscsi://127.0.0.1:{srv.iscsi_port}"], timeout=20)
        check(r.returncode == 0 and "iqn." in r.stdout, f"iscsi-ls after exhaustion: {r.stdout}{r.stderr}")
        r = run_tool(["nbdinfo", f"nbd://127.0.0.1:{srv.nbd_port}"], timeout=20)
        check(r.returncode == 0, f"nbdinfo after exhaustion: {r.stdout}{r.stderr}")
        r = srv.ctl("status")
        check(r.returncode == 0, "vstor ctl status after exhaustion")
        status, body = http_get(srv.metrics_port)
        check(status == 200 and "vstor_lun_reads_total" in body, f"GET /metrics after exhaustion: {status}")
        check(srv.stop() == 0, "vstor did not exit 0 on SIGTERM")


main(run)
