"""Write data received straight into the command's buffer (src/iscsi/connection_rx.cpp): one
WRITE of 300 KiB arrives as immediate data, unsolicited Data-Out and solicited Data-Out, in
segments whose lengths are not multiples of 4 (padding), some sent in two pieces with a pause so
that the target sees a header before its data (the rest of a large segment is read into place
from the socket). The bytes must read back. Data-Out for an unknown TTT, beyond its R2T or beyond
the transfer is rejected (RFC 7143 11.17) and the session goes on. With DataDigest=CRC32C a write
with correct digests succeeds and a Data-Out with a wrong one is rejected and ends the connection.
"""
import os
import struct
import time

from iscsi_pdu import DATA_OUT, R2T, REJECT, RESERVED_TAG, SCSI_RESPONSE, frame
from raw_iscsi import RawSession
from vstor_fixture import Server, check, main

TARGET = "iqn.2026-11.org.vstor:disk0"
LENGTH = 300 * 1024
KEYS = dict(InitialR2T="No", ImmediateData="Yes", MaxRecvDataSegmentLength=262144,
            FirstBurstLength=65536, MaxBurstLength=262144, MaxOutstandingR2T=1)


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def data_out_bhs(itt, ttt, offset, datasn, final, exp_statsn):
    bhs = bytearray(48)
    bhs[0] = DATA_OUT
    bhs[1] = 0x80 if final else 0
    struct.pack_into(">II", bhs, 16, itt, ttt)
    struct.pack_into(">I", bhs, 28, exp_statsn)
    struct.pack_into(">II", bhs, 36, datasn, offset)
    return bhs


def send_split(s, wire, at):
    """Sends wire in two pieces with a pause between: the target sees a partial PDU."""
    s.sock.sendall(wire[:at])
    time.sleep(0.05)
    s.sock.sendall(wire[at:])


def wait_for(s, opcode, itt=None, timeout=10.0):
    while True:
        pdu = s.recv_pdu(timeout)
        check(pdu is not None, f"no PDU {opcode:#x} within {timeout} s")
        if pdu.opcode == opcode and (itt is None or pdu.itt == itt):
            return pdu


def placed_write(s, data):
    """WRITE(16) of data at LBA 0: 1000 bytes immediate, the rest of the first burst unsolicited
    in 7777-byte segments, the remainder answering R2Ts with one segment each, sent split."""
    itt = 0x10
    s.write16(itt, 0, LENGTH, immediate=data[:1000], final=False)
    s.data_out(itt, RESERVED_TAG, 1000, data[1000:65536], seg=7777)
    datasn_by_ttt = {}
    while True:
        pdu = s.recv_pdu(10.0)
        check(pdu is not None, "no R2T or response to the WRITE")
        if pdu.opcode == SCSI_RESPONSE and pdu.itt == itt:
            check(pdu.bhs[3] == 0, f"WRITE status {pdu.bhs[3]:#x}")
            return
        check(pdu.opcode == R2T, f"unexpected PDU {pdu.opcode:#x}")
        ttt, off, n = pdu.u32(20), pdu.u32(40), pdu.u32(44)
        wire = frame(data_out_bhs(itt, ttt, off, datasn_by_ttt.get(ttt, 0), True, s.exp_statsn), data[off:off + n])
        send_split(s, wire, 48 + 100)  # header and 100 bytes, then the rest


def rejected(s, bhs, why):
    s.send_pdu(bhs, b"\xab" * 512)
    pdu = wait_for(s, REJECT)
    check(pdu.bhs[2] in (0x04, 0x09), f"{why}: reject reason {pdu.bhs[2]:#x}")


def refusals(s):
    """A WRITE waits for an R2T; Data-Out beside it must be refused, then the write completes."""
    itt = 0x20
    s.write16(itt, 1024, 8192, final=True)
    r2t = wait_for(s, R2T, itt)
    ttt = r2t.u32(20)
    rejected(s, data_out_bhs(itt, ttt ^ 0x5555, 0, 0, True, s.exp_statsn), "unknown TTT")
    rejected(s, data_out_bhs(itt, ttt, 8192 - 256, 0, True, s.exp_statsn), "beyond the R2T")
    rejected(s, data_out_bhs(0x77, ttt, 0, 0, True, s.exp_statsn), "unknown ITT")
    s.data_out(itt, ttt, 0, b"\x5a" * 8192)
    rsp = wait_for(s, SCSI_RESPONSE, itt)
    check(rsp.bhs[3] == 0, f"WRITE after refusals: status {rsp.bhs[3]:#x}")
    check(s.read_back(0x21, 1024, 8192) == b"\x5a" * 8192, "WRITE after refusals read back wrong")


def with_digest(wire):
    data = wire[48:]
    return wire + (struct.pack("<I", crc32c(data)) if data else b"")


def digests(port):
    """DataDigest=CRC32C: good digests land, a bad one is rejected and ends the connection."""
    s = RawSession("127.0.0.1", port)
    s.login(TARGET, isid_last=2, DataDigest="CRC32C", **KEYS)
    data = os.urandom(4096)
    s.write16(0x30, 2048, 8192, immediate=b"", final=True)
    r2t = wait_for(s, R2T, 0x30)
    ttt = r2t.u32(20)
    first = frame(data_out_bhs(0x30, ttt, 0, 0, False, s.exp_statsn), data[:1234])
    second = frame(data_out_bhs(0x30, ttt, 1234, 1, False, s.exp_statsn), data[1234:])
    s.sock.sendall(with_digest(first) + with_digest(second))
    wire = frame(data_out_bhs(0x30, ttt, 4096, 2, True, s.exp_statsn), data)
    bad = bytearray(with_digest(wire))
    bad[-1] ^= 0xFF
    s.sock.sendall(bytes(bad))
    pdu = wait_for(s, REJECT)
    check(pdu.bhs[2] == 0x02, f"bad data digest: reject reason {pdu.bhs[2]:#x}")
    try:
        gone = False
        s.recv_pdu(5.0)  # anything but the close is wrong
    except ConnectionError:
        gone = True
    check(gone, "connection not closed after a Data-Out digest error")
    s.close()
    s = RawSession("127.0.0.1", port)
    s.login(TARGET, isid_last=3, DataDigest="CRC32C", **KEYS)
    s.write16(0x31, 2048, 4096, immediate=b"", final=True)
    ttt = wait_for(s, R2T, 0x31).u32(20)
    s.sock.sendall(with_digest(frame(data_out_bhs(0x31, ttt, 0, 0, True, s.exp_statsn), data)))
    rsp = wait_for(s, SCSI_RESPONSE, 0x31)
    check(rsp.bhs[3] == 0, f"WRITE with data digests: status {rsp.bhs[3]:#x}")
    s.close()
    return data


def run(args):
    with Server(args, ["--lun", "mem:64M"]) as srv:
        s = RawSession("127.0.0.1", srv.iscsi_port)
        s.login(TARGET, **KEYS)
        data = os.urandom(LENGTH)
        placed_write(s, data)
        check(s.read_back(0x11, 0, LENGTH) == data, "300 KiB WRITE received into place read back wrong")
        refusals(s)
        digest_data = digests(srv.iscsi_port)
        check(s.read_back(0x40, 2048, 4096) == digest_data, "WRITE with data digests read back wrong")
        s.close()
        print("placed writes read back; refused Data-Out rejected; data digests checked")


if __name__ == "__main__":
    main(run)
