"""await-async-event HOST PORT TARGET SECONDS: a raw iSCSI session (tests/abuse/raw_iscsi.py) logs in
to TARGET, takes the POWER ON unit attention, prints "ready" and waits up to SECONDS for an Async
Message; prints it as "async lun=N event=E sense=K/AS/AQ statsn=ok|bad after_ms=T" and exits 0, or
exits 1 if none came. libiscsi does not show a client a target's Async Messages, hence this probe.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "abuse"))
from raw_iscsi import RawSession, sense_of  # noqa: E402


def main():
    host, port, target, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    s = RawSession(host, port)
    s.login(target, isid_last=7)
    s.test_unit_ready(1)
    print("ready", flush=True)
    start = time.monotonic()
    try:
        pdu, statsn = s.async_message(seconds)
    except (TimeoutError, IOError) as e:
        print(f"no async message: {e}", flush=True)
        return 1
    ms = round((time.monotonic() - start) * 1000)
    key, asc, ascq = sense_of(pdu.data) or (0, 0, 0)
    lun = int.from_bytes(pdu.bhs[8:10], "big") & 0x3FFF
    print(f"async lun={lun} event={pdu.bhs[36]} sense={key:x}/{asc:02x}/{ascq:02x} "
          f"statsn={'ok' if pdu.statsn == statsn else 'bad'} after_ms={ms}", flush=True)
    s.close()
    return 0


sys.exit(main())
