"""Wrong CHAP secrets are throttled, logged and counted: after 3 free failures from one address or
initiator the answers wait 250 ms, doubling to 4 s; a warning names the peer and the IQN; the
failures show in `vstor ctl stats` and /metrics; the wait blocks no event loop (other logins
on the same loop go on at full speed). Before: 5,300 wrong secrets a second were answered."""
import json
import threading
import time
import urllib.request

from iscsi_pdu import Conn
from vstor_fixture import Server, check, main

TARGET = "iqn.2026-11.org.vstor:disk0"
USER, SECRET = "user", "averylongsecret1"
GUESSER = "iqn.2026-12.org.vstor.abuse:guesser"


def wrong_login(port, initiator=GUESSER):
    """One login with a wrong secret; returns (status, seconds from CHAP response to answer)."""
    with Conn(port, timeout=15) as c:
        t0 = [0.0]
        orig_send = c.send

        def send(data):
            t0[0] = time.monotonic()  # the last send before the answer is the CHAP response
            orig_send(data)

        c.send = send
        r = c.login(initiator=initiator, target=TARGET, chap=(USER, "not-the-right-secret"))
        return r.status, time.monotonic() - t0[0]


def run(args):
    # One event loop: the held answers and the other logins share it.
    with Server(args, ["--lun", "mem:16M", "--chap", f"{USER}:{SECRET}", "--loops", "1"],
                control=True, metrics=True) as srv:
        # 1. Sequential guesses: free, free, free, then 250 ms, 500 ms, 1 s, 2 s.
        expected = [0, 0, 0, 0.25, 0.5, 1.0, 2.0]
        took = []
        for want in expected:
            status, secs = wrong_login(srv.iscsi_port)
            check(status == 0x0201, f"wrong secret answered with status {status:04x}, not 0201")
            took.append(secs)
            check(secs >= want * 0.9, f"answer {len(took)} came after {secs:.3f} s, want >= {want} s (all: {took})")
            check(secs < want + 1.0, f"answer {len(took)} came after {secs:.3f} s, want about {want} s")
        print("wrong-secret answer delays:", ", ".join(f"{s:.2f}" for s in took))

        # 2. While a guess is held (4 s now), a discovery login on the same loop is not slowed.
        held = threading.Thread(target=wrong_login, args=(srv.iscsi_port,))
        held.start()
        time.sleep(0.3)
        t = time.monotonic()
        with Conn(srv.iscsi_port) as c:
            r = c.login(initiator="iqn.2026-12.org.vstor.abuse:bystander")
            check(r.status == 0 and r.final, f"discovery login failed: {r.status:04x}")
        quick = time.monotonic() - t
        check(quick < 0.5, f"a discovery login took {quick:.2f} s while a CHAP answer was held: the loop is blocked")
        held.join()

        # 3. Many parallel guessers from this address: a handful of answers in 3 s, not thousands.
        answered = [0]
        stop = time.monotonic() + 3

        def guesser(i):
            while time.monotonic() < stop:
                try:
                    wrong_login(srv.iscsi_port, f"{GUESSER}-{i}")
                    answered[0] += 1
                except OSError:
                    return

        threads = [threading.Thread(target=guesser, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(10)
        print(f"{answered[0]} wrong secrets answered in 3 s from 8 parallel guessers")
        check(answered[0] <= 16, f"{answered[0]} wrong secrets answered in 3 s")
        total = len(expected) + 1 + answered[0]

        # 4. Counted in ctl stats and /metrics; warned with peer address and IQN.
        stats = json.loads(srv.ctl("--json", "stats").stdout)
        failures = stats["iscsi"]["chap_failures"]
        check(failures >= total, f"ctl stats counts {failures} CHAP failures, {total} were made")
        body = urllib.request.urlopen(f"http://127.0.0.1:{srv.metrics_port}/metrics", timeout=5).read().decode()
        check(f"vstor_iscsi_chap_failures_total {failures}\n" in body,
              f"/metrics does not show vstor_iscsi_chap_failures_total {failures}")
        log = srv.log_text()
        warnings = [l for l in log.splitlines() if "[warning]" in l and "CHAP authentication failed" in l]
        check(warnings, "no warning line for the CHAP failures")
        check("127.0.0.1" in warnings[0] and GUESSER in warnings[0], f"warning lacks peer or IQN: {warnings[0]}")
        check(len(warnings) <= 10, f"{len(warnings)} CHAP warnings in a few seconds: not rate-limited")

        # 5. The right secret still logs in (held like any answer to this address), and resets the count.
        with Conn(srv.iscsi_port, timeout=15) as c:
            r = c.login(initiator=GUESSER, target=TARGET, chap=(USER, SECRET))
            check(r.status == 0 and r.final, f"the right secret was refused: {r.status:04x}")
        status, secs = wrong_login(srv.iscsi_port)
        check(secs < 0.2, f"after a successful login the next wrong answer still waited {secs:.2f} s")
        check(srv.alive(), "vstor died")


main(run)
