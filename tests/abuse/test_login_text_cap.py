"""Login text continued with the C bit is capped (64 KiB, as for Text requests): the PDU past the
cap gets a Login Reject (status class 2, initiator error) and the connection is closed, so 2,048
continued Login PDUs of 256 KiB cost the target nothing (before: RSS 9 MB -> 534 MB in 5 s)."""
import threading

from iscsi_pdu import Conn, login_request, kv, INITIATOR, LOGIN_RESPONSE
from vstor_fixture import Server, check, main

TARGET = "iqn.2026-11.org.vstor:disk0"
CHAP = ("user", "averylongsecret1")
CAP = 64 * 1024


def run(args):
    with Server(args, ["--lun", "mem:16M", "--chap", ":".join(CHAP)]) as srv:
        base = srv.rss_kib()

        # 1. 8 KiB pieces: the first 8 (64 KiB) are acknowledged, the 9th is refused.
        with Conn(srv.iscsi_port) as c:
            c.send(login_request(kv(InitiatorName=INITIATOR, TargetName=TARGET), cont=True))
            check(c.recv().status == 0, "the first continued login PDU was not acknowledged")
            acked, reject = 0, None
            for _ in range(2048):
                c.send(login_request(b"x" * 8192, cont=True, exp_statsn=c.exp_statsn))
                r = c.recv()
                check(r.opcode == LOGIN_RESPONSE, f"answer with opcode {r.opcode:#x}")
                if r.status:
                    reject = r
                    break
                acked += 1
            check(reject is not None, f"{acked} continued login PDUs (over {acked * 8} KiB) acknowledged, no reject")
            check(reject.status >> 8 == 2, f"login reject status {reject.status:04x} is not class 2 (initiator error)")
            check(acked * 8192 < CAP, f"{acked} PDUs of 8 KiB acknowledged before the reject: cap above 64 KiB")
            check(c.closed_by_peer(5), "connection still open 5 s after the login reject")

        # 2. 2,048 PDUs of 256 KiB sent without waiting for answers: the target rejects the first
        #    and closes; its memory does not follow what the peer sends.
        with Conn(srv.iscsi_port) as c:
            sent = [0]

            def flood():
                try:
                    c.send(login_request(kv(InitiatorName=INITIATOR, TargetName=TARGET), cont=True))
                    chunk = login_request(b"y" * (256 * 1024), cont=True)
                    for _ in range(2048):
                        c.send(chunk)
                        sent[0] += 1
                except OSError:
                    pass  # the target closed the connection: what should happen

            t = threading.Thread(target=flood, daemon=True)
            t.start()
            answers = []
            try:
                while True:
                    answers.append(c.recv())
                    if answers[-1].status:
                        break
            except (OSError, ConnectionResetError):
                pass
            t.join(20)
            check(not t.is_alive(), "the target still reads the flood after 20 s")
            check(answers and answers[-1].status >> 8 == 2,
                  f"no class 2 login reject in {len(answers)} answers ({sent[0]} PDUs of 256 KiB sent)")
        grown = srv.rss_kib() - base
        print(f"RSS {base} KiB before, +{grown} KiB after the flood ({sent[0]} of 2048 PDUs of 256 KiB sent)")
        check(grown < 16 * 1024, f"RSS grew by {grown} KiB")

        # 3. The server still logs in a real initiator.
        with Conn(srv.iscsi_port) as c:
            r = c.login(target=TARGET, chap=CHAP)
            check(r.status == 0 and r.final, f"a normal CHAP login after the attack failed: status {r.status:04x}")
        check(srv.alive(), "vstor died")
        check("login text longer than 65536 bytes" in srv.log_text(), "no log line names the cause of the reject")


main(run)
