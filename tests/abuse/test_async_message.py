"""The iSCSI Async Message on the wire (RFC 7143 11.9): libiscsi never shows a client what a target
sends unasked, so this raw session checks the bytes. A logged-in session gets, without asking:
- after `ctl lun resize`, AsyncEvent 0 (a SCSI event) for that LUN with CAPACITY DATA HAS CHANGED
  (06/2A/09) in its data segment (SenseLength + fixed-format sense);
- after `ctl lun add` and `ctl lun remove`, REPORTED LUNS DATA HAS CHANGED (06/3F/0E) naming the
  added or removed LUN;
each carrying the next StatSN (it takes one, as a response does) and the reserved ITT. A session on another target hears nothing. The unit attention is
also queued: the next TEST UNIT READY on the LUN reports it as CHECK CONDITION.
"""
import struct

from iscsi_pdu import ASYNC_MESSAGE, SCSI_RESPONSE
from raw_iscsi import RawSession
from vstor_fixture import Server, check, main

DISK0 = "iqn.2026-11.org.vstor:disk0"
OTHER = "iqn.2026-11.org.vstor:other"


def sam_lun(n):
    """The 8-byte LUN field for LUN n (SAM peripheral addressing below 256, flat above)."""
    return struct.pack(">HHI", n if n < 256 else 0x4000 | n, 0, 0)


def next_async(s, timeout=5.0):
    """The first Async Message within timeout (other PDUs are not expected while idle), and the
    StatSN it should carry (the session's ExpStatSN before it arrived)."""
    statsn = s.exp_statsn
    pdu = s.recv_pdu(timeout)
    check(pdu is not None, f"no Async Message within {timeout} s")
    check(pdu.opcode == ASYNC_MESSAGE, f"expected an Async Message, got opcode {pdu.opcode:#x}")
    return pdu, statsn


def check_scsi_event(got, lun, asc, ascq):
    pdu, statsn = got
    bhs = pdu.bhs
    check(bhs[1] & 0x80, "the F bit is not set")
    check(bhs[8:16] == sam_lun(lun), f"LUN field {bhs[8:16].hex()}, expected LUN {lun}")
    check(pdu.itt == 0xFFFFFFFF, f"ITT {pdu.itt:#x}, expected the reserved tag")
    check(bhs[36] == 0, f"AsyncEvent {bhs[36]}, expected 0 (SCSI event)")
    check(pdu.statsn == statsn, f"StatSN {pdu.statsn}, expected the next one, {statsn}")
    check(len(pdu.data) >= 2 + 14, f"data segment of {len(pdu.data)} bytes is too short for sense")
    sense_len = struct.unpack_from(">H", pdu.data, 0)[0]
    sense = pdu.data[2:2 + sense_len]
    check(sense_len == len(pdu.data) - 2 or len(pdu.data) - 2 - sense_len < 4,
          f"SenseLength {sense_len} does not match the segment of {len(pdu.data)}")
    check(sense[0] & 0x7F == 0x70, f"not fixed-format current sense: {sense.hex()}")
    got = (sense[2] & 0x0F, sense[12], sense[13])
    check(got == (6, asc, ascq), f"sense {got[0]:x}/{got[1]:02x}/{got[2]:02x}, expected 6/{asc:02x}/{ascq:02x}")


def test_unit_ready_status(s, lun, itt):
    """CHECK CONDITION (2) or GOOD (0) of a TEST UNIT READY to lun, with the sense key/ASC/ASCQ."""
    bhs = bytearray(48)
    bhs[0] = 0x01
    bhs[1] = 0x80 | 1  # final, simple task attribute
    bhs[8:16] = sam_lun(lun)
    struct.pack_into(">IIII", bhs, 16, itt, 0, s.cmdsn, s.exp_statsn)
    s.cmdsn = (s.cmdsn + 1) & 0xFFFFFFFF
    s.send_pdu(bhs)
    pdu = s.recv_pdu(5.0)
    check(pdu is not None and pdu.opcode == SCSI_RESPONSE, "no SCSI Response to TEST UNIT READY")
    status = pdu.bhs[3]
    if status != 2:
        return status, None
    sense = pdu.data[2:]
    return status, (sense[2] & 0x0F, sense[12], sense[13])


def run(args):
    with Server(args, ["--lun", "mem:16M"], control=True) as srv:
        srv.ctl("target", "add", OTHER)
        srv.ctl("lun", "add", "mem:8M", "--target", OTHER)
        s = RawSession("127.0.0.1", srv.iscsi_port)
        s.login(DISK0)
        other = RawSession("127.0.0.1", srv.iscsi_port)
        other.login(OTHER, isid_last=2)
        # The first command after login reports POWER ON/RESET; take it before waiting for events.
        test_unit_ready_status(s, 0, 1)
        test_unit_ready_status(s, 0, 2)

        srv.ctl("lun", "resize", "0", "32M", "--target", DISK0)
        check_scsi_event(next_async(s), 0, 0x2A, 0x09)
        status, sense = test_unit_ready_status(s, 0, 3)
        check(status == 2 and sense == (6, 0x2A, 0x09),
              f"TEST UNIT READY after the resize: status {status} sense {sense}, expected 6/2A/09")

        srv.ctl("lun", "add", "mem:4M", "--lun", "5", "--target", DISK0)
        check_scsi_event(next_async(s), 5, 0x3F, 0x0E)
        srv.ctl("lun", "remove", "5", "--target", DISK0)
        check_scsi_event(next_async(s), 5, 0x3F, 0x0E)

        check(other.recv_pdu(0.5) is None, "the session on the other target got a PDU for disk0's LUNs")
        # The session still works after the events: a command is answered in order.
        status, _ = test_unit_ready_status(s, 0, 4)
        check(status in (0, 2), f"TEST UNIT READY after the events: status {status}")
        s.close()
        other.close()
        check(srv.stop() == 0, "vstor did not exit 0 on SIGTERM")


main(run)
