"""Half-done logins are closed after --login-timeout (15 s by default, 2 s here): 300 connections
that sent nothing or stopped after the security stage all go, the target's descriptors come back,
and a real login still works (before: 1,000 half-done logins stayed open 45 s and more)."""
import time

from iscsi_pdu import Conn, login_request, kv, INITIATOR
from vstor_fixture import Server, check, main

TIMEOUT = 2
COUNT = 300


def run(args):
    # All COUNT connections come from 127.0.0.1: lift the per-address limit (default 256).
    with Server(args, ["--lun", "mem:16M", "--login-timeout", str(TIMEOUT),
                       "--max-connections-per-address", "0"]) as srv:
        socks_before = srv.socket_count()
        conns = []
        start = time.monotonic()
        for i in range(COUNT):
            c = Conn(srv.iscsi_port)
            if i % 2:  # half of them stop after the first login PDU (security stage, no transit)
                c.send(login_request(kv(InitiatorName=INITIATOR, SessionType="Discovery", AuthMethod="None")))
                check(c.recv().status == 0, "the first login PDU was refused")
            conns.append(c)
        check(srv.socket_count() >= socks_before + COUNT // 2, "the target does not hold the connections at all")
        # Every connection must be closed by the target within the timeout plus a margin.
        still_open = [c for c in conns if not c.closed_by_peer(max(0.05, start + TIMEOUT + 3 - time.monotonic()))]
        elapsed = time.monotonic() - start
        check(not still_open, f"{len(still_open)} of {COUNT} half-done logins still open after {elapsed:.1f} s")
        for c in conns:
            c.close()
        time.sleep(0.2)
        socks_after = srv.socket_count()
        print(f"{COUNT} half-done logins closed within {elapsed:.1f} s; target sockets {socks_before} -> {socks_after}")
        check(socks_after <= socks_before + 2, f"target holds {socks_after} sockets, {socks_before} before")
        # A real initiator still logs in and is not cut off by the login timeout once logged in.
        with Conn(srv.iscsi_port) as c:
            r = c.login()
            check(r.status == 0 and r.final, f"discovery login failed: status {r.status:04x}")
            check(not c.closed_by_peer(TIMEOUT + 1), "a logged-in connection was closed by the login timeout")
        check(srv.alive(), "vstor died")


main(run)
