"""The iSCSI Async Message on the wire (RFC 7143 11.9): libiscsi never shows a client what a target
sends unasked, so this raw session checks the bytes. A logged-in session gets, without asking:
- after `ctl lun resize`, AsyncEvent 0 (a SCSI event) for that LUN with CAPACITY DATA HAS CHANGED
  (06/2A/09) in its data segment (SenseLength + fixed-format sense);
- after `ctl lun add` and `ctl lun remove`, REPORTED LUNS DATA HAS CHANGED (06/3F/0E) naming the
  added or removed LUN;
each with the F bit, the reserved ITT and the next StatSN (it takes one, as a response does). A
session on another target hears nothing. The unit attention is also queued: the next TEST UNIT
READY on the LUN reports it as CHECK CONDITION.
"""
import struct

from raw_iscsi import RawSession, sam_lun, sense_of
from vstor_fixture import Server, check, main

DISK0 = "iqn.2026-11.org.vstor:disk0"
OTHER = "iqn.2026-11.org.vstor:other"


def check_scsi_event(got, lun, asc, ascq):
    pdu, statsn = got
    bhs = pdu.bhs
    check(bhs[1] & 0x80, "the F bit is not set")
    check(bhs[8:16] == sam_lun(lun), f"LUN field {bhs[8:16].hex()}, expected LUN {lun}")
    check(pdu.itt == 0xFFFFFFFF, f"ITT {pdu.itt:#x}, expected the reserved tag")
    check(bhs[36] == 0, f"AsyncEvent {bhs[36]}, expected 0 (SCSI event)")
    check(pdu.statsn == statsn, f"StatSN {pdu.statsn}, expected the next one, {statsn}")
    length = struct.unpack_from(">H", pdu.data, 0)[0] if len(pdu.data) >= 2 else -1
    check(0 <= len(pdu.data) - 2 - length < 4, f"SenseLength {length} in a segment of {len(pdu.data)} bytes")
    got = sense_of(pdu.data)
    check(got == (6, asc, ascq), f"sense {got}, expected 6/{asc:02x}/{ascq:02x} in fixed format")


def run(args):
    with Server(args, ["--lun", "mem:16M"], control=True) as srv:
        srv.ctl("target", "add", OTHER)
        srv.ctl("lun", "add", "mem:8M", "--target", OTHER)
        s = RawSession("127.0.0.1", srv.iscsi_port)
        s.login(DISK0)
        other = RawSession("127.0.0.1", srv.iscsi_port)
        other.login(OTHER, isid_last=2)
        # The first command after login reports POWER ON/RESET; take it before waiting for events.
        s.test_unit_ready(1)
        check(s.test_unit_ready(2) == (0, None), "TEST UNIT READY is not GOOD before any event")

        srv.ctl("lun", "resize", "0", "32M", "--target", DISK0)
        check_scsi_event(s.async_message(), 0, 0x2A, 0x09)
        got = s.test_unit_ready(3)
        check(got == (2, (6, 0x2A, 0x09)), f"TEST UNIT READY after the resize: {got}, expected 6/2A/09")

        srv.ctl("lun", "add", "mem:4M", "--lun", "5", "--target", DISK0)
        check_scsi_event(s.async_message(), 5, 0x3F, 0x0E)
        srv.ctl("lun", "remove", "5", "--target", DISK0)
        check_scsi_event(s.async_message(), 5, 0x3F, 0x0E)

        check(other.recv_pdu(0.5) is None, "the session on the other target got a PDU for disk0's LUNs")
        # The session goes on after the events: a command is answered in order.
        status, _ = s.test_unit_ready(4)
        check(status in (0, 2), f"TEST UNIT READY after the events: status {status}")
        s.close()
        other.close()
        check(srv.stop() == 0, "vstor did not exit 0 on SIGTERM")


main(run)
