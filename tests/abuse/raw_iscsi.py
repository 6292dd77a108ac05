"""A bare iSCSI initiator built from raw PDUs (RFC 7143), for tests and bench scenarios that
must misbehave on purpose: half-sent writes, unanswered R2Ts, watching MaxCmdSN.

    s = RawSession("127.0.0.1", port)
    s.login("iqn....:disk0", InitialR2T="No", ImmediateData="Yes")
    s.write16(itt, lba, total_len, immediate=b"...", final=False)
    for pdu in s.poll(timeout):   # Pdu objects; s.max_cmdsn follows every PDU
        ...
    s.data_out(itt, ttt, offset, data, datasn, final)

No digests, ERL 0, one connection per session. PDUs are framed and parsed by iscsi_pdu.
"""
import select
import socket
import struct
import time

from iscsi_pdu import (ASYNC_MESSAGE, DATA_IN, DATA_OUT, LOGIN_RESPONSE, NOP_IN, R2T, REJECT, RESERVED_TAG, SCSI_COMMAND,
                       SCSI_RESPONSE, TMF_REQUEST, TMF_RESPONSE, frame, kv, login_request, parse_kv, take_pdu)

# Task management functions (RFC 7143 11.5.1).
ABORT_TASK, ABORT_TASK_SET, CLEAR_TASK_SET, LOGICAL_UNIT_RESET, TARGET_WARM_RESET = 1, 2, 4, 5, 6


def sn_gt(a, b):
    """Serial number arithmetic (RFC 1982): a > b."""
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


class RawSession:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.rx = bytearray()
        self.cmdsn = 1
        self.exp_statsn = 0
        self.max_cmdsn = None      # highest MaxCmdSN seen (serial arithmetic)
        self.login_max_cmdsn = None
        self.params = {}

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # ---- framing ----
    def send_pdu(self, bhs, data=b""):
        self.sock.sendall(frame(bhs, data))

    def _take_pdu(self):
        pdu = take_pdu(self.rx)
        if pdu is not None:
            self._note(pdu)
        return pdu

    def _note(self, pdu):
        op = pdu.opcode
        if op in (SCSI_RESPONSE, TMF_RESPONSE, LOGIN_RESPONSE, NOP_IN, ASYNC_MESSAGE) or (op == DATA_IN and pdu.bhs[1] & 1):
            if op != NOP_IN or pdu.itt != RESERVED_TAG:
                self.exp_statsn = (pdu.u32(24) + 1) & 0xFFFFFFFF
        m = pdu.u32(32)
        if op in (SCSI_RESPONSE, TMF_RESPONSE, LOGIN_RESPONSE, NOP_IN, DATA_IN, R2T, REJECT, ASYNC_MESSAGE):
            if self.max_cmdsn is None or sn_gt(m, self.max_cmdsn):
                self.max_cmdsn = m

    def recv_pdu(self, timeout=10.0):
        """Next PDU, or None if none arrives within timeout."""
        while True:
            pdu = self._take_pdu()
            if pdu is not None:
                return pdu
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return None
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("target closed the connection")
            self.rx += chunk

    def poll(self, timeout=0.0):
        """Every PDU that is ready within timeout (the first wait only)."""
        out = []
        pdu = self.recv_pdu(timeout)
        while pdu is not None:
            out.append(pdu)
            pdu = self.recv_pdu(0)
        return out

    def fileno(self):
        return self.sock.fileno()

    # ---- login ----
    def login(self, target, isid_last=1, **keys):
        text = {
            "InitiatorName": "iqn.2026-11.org.test:raw",
            "TargetName": target,
            "SessionType": "Normal",
            "HeaderDigest": "None",
            "DataDigest": "None",
            "ErrorRecoveryLevel": "0",
        }
        text.update({k: str(v) for k, v in keys.items()})
        self.sock.sendall(login_request(kv(*text.items()), csg=1, nsg=3, transit=True, itt=0x7000,
                                        isid=bytes([0x80, 0, 0, 0, 0, isid_last & 0xFF]), cmdsn=self.cmdsn))
        rsp = self.recv_pdu()
        if rsp is None or rsp.opcode != LOGIN_RESPONSE or rsp.bhs[36] != 0:
            raise ConnectionError(f"login failed: {rsp.bhs[36:38].hex() if rsp else 'no answer'}")
        self.params.update(parse_kv(rsp.data))
        self.login_max_cmdsn = self.max_cmdsn
        return rsp

    # ---- SCSI ----
    def scsi_cmd(self, itt, cdb, length, write, immediate=b"", final=True):
        bhs = bytearray(48)
        bhs[0] = SCSI_COMMAND
        bhs[1] = (0x80 if final else 0) | (0x20 if write else (0x40 if length else 0)) | 1
        struct.pack_into(">IIII", bhs, 16, itt, length, self.cmdsn, self.exp_statsn)
        bhs[32:32 + len(cdb)] = cdb
        self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
        self.send_pdu(bhs, immediate)

    def write16(self, itt, lba, length, immediate=b"", final=True, block=512):
        cdb = struct.pack(">BBQIBB", 0x8A, 0, lba, length // block, 0, 0)
        self.scsi_cmd(itt, cdb, length, True, immediate, final)

    def read16(self, itt, lba, length, block=512):
        cdb = struct.pack(">BBQIBB", 0x88, 0, lba, length // block, 0, 0)
        self.scsi_cmd(itt, cdb, length, False)

    def data_out(self, itt, ttt, offset, data, datasn=0, final=True, seg=None):
        """Sends data at offset in Data-Out PDUs of at most seg bytes (the target's
        MaxRecvDataSegmentLength); F on the last one if final. Returns the next DataSN."""
        seg = seg or int(self.params.get("MaxRecvDataSegmentLength", 8192))
        pos = 0
        while pos < len(data) or (pos == 0 and not data):
            n = min(seg, len(data) - pos)
            bhs = bytearray(48)
            bhs[0] = DATA_OUT
            last = pos + n >= len(data)
            bhs[1] = 0x80 if (last and final) else 0
            struct.pack_into(">II", bhs, 16, itt, ttt)
            struct.pack_into(">I", bhs, 28, self.exp_statsn)
            struct.pack_into(">II", bhs, 36, datasn, offset + pos)
            self.send_pdu(bhs, bytes(data[pos:pos + n]))
            datasn += 1
            pos += n
            if not data:
                break
        return datasn

    def test_unit_ready(self, itt, lun=0, timeout=5.0):
        """TEST UNIT READY to lun: (SCSI status, (key, ASC, ASCQ) of its sense or None)."""
        bhs = bytearray(48)
        bhs[0] = SCSI_COMMAND
        bhs[1] = 0x80 | 1  # final, simple task attribute
        bhs[8:16] = sam_lun(lun)
        struct.pack_into(">IIII", bhs, 16, itt, 0, self.cmdsn, self.exp_statsn)
        self.cmdsn = (self.cmdsn + 1) & 0xFFFFFFFF
        self.send_pdu(bhs)
        pdu = self.recv_pdu(timeout)
        if pdu is None or pdu.opcode != SCSI_RESPONSE or pdu.itt != itt:
            raise IOError(f"no SCSI Response to TEST UNIT READY itt {itt:#x}")
        return pdu.bhs[3], sense_of(pdu.data) if pdu.bhs[3] == 2 else None

    def tmf(self, itt, function, lun=0, ref_itt=RESERVED_TAG, ref_cmdsn=0):
        """Sends a Task Management Function Request, immediate (it takes no CmdSN)."""
        bhs = bytearray(48)
        bhs[0] = 0x40 | TMF_REQUEST
        bhs[1] = 0x80 | function
        bhs[8:16] = sam_lun(lun)
        struct.pack_into(">IIIII", bhs, 16, itt, ref_itt, self.cmdsn, self.exp_statsn, ref_cmdsn)
        self.send_pdu(bhs)

    def tmf_responses(self, timeout, want=()):
        """{ITT: Response field} of the Task Management Function Responses that arrive within
        timeout (sooner, once one has for every ITT in want); other PDUs are dropped."""
        out = {}
        deadline = time.monotonic() + timeout
        while not (want and all(itt in out for itt in want)):
            left = deadline - time.monotonic()
            pdu = self.recv_pdu(left) if left > 0 else None
            if pdu is None:
                break
            if pdu.opcode == TMF_RESPONSE:
                out[pdu.itt] = pdu.bhs[2]
        return out

    def async_message(self, timeout=5.0):
        """The next PDU if it is an Async Message within timeout, with the StatSN it should carry
        (the ExpStatSN before it arrived): (pdu, statsn). Raises if another PDU or none comes."""
        statsn = self.exp_statsn
        pdu = self.recv_pdu(timeout)
        if pdu is None:
            raise TimeoutError(f"no Async Message within {timeout} s")
        if pdu.opcode != ASYNC_MESSAGE:
            raise IOError(f"expected an Async Message, got opcode {pdu.opcode:#x}")
        return pdu, statsn

    def read_back(self, itt, lba, length, timeout=20.0):
        """READ(16); returns the data (GOOD status) or raises."""
        self.read16(itt, lba, length)
        out = bytearray(length)
        while True:
            pdu = self.recv_pdu(timeout)
            if pdu is None:
                raise TimeoutError(f"no answer to READ itt {itt:#x}")
            if pdu.itt != itt:
                continue
            if pdu.opcode == DATA_IN:
                off = pdu.u32(40)
                out[off:off + len(pdu.data)] = pdu.data
                if pdu.bhs[1] & 1:
                    if pdu.bhs[3] != 0:
                        raise IOError(f"READ itt {itt:#x}: status {pdu.bhs[3]:#x}")
                    return bytes(out)
            elif pdu.opcode == SCSI_RESPONSE:
                if pdu.bhs[3] != 0:
                    raise IOError(f"READ itt {itt:#x}: status {pdu.bhs[3]:#x}")
                return bytes(out)


def sam_lun(n):
    """The 8-byte LUN field for LUN n (SAM peripheral addressing below 256, flat space above)."""
    return struct.pack(">HHI", n if n < 256 else 0x4000 | n, 0, 0)


def sense_of(data):
    """(key, ASC, ASCQ) of a data segment holding SenseLength and fixed-format sense, or None."""
    if len(data) < 2 + 14:
        return None
    sense = data[2:2 + struct.unpack_from(">H", data, 0)[0]]
    if len(sense) < 14 or sense[0] & 0x7F not in (0x70, 0x71):
        return None
    return sense[2] & 0x0F, sense[12], sense[13]


def pattern(tag, offset, length):
    """Deterministic data for write `tag`: every 512-byte sector names the write and itself, so
    misplaced or lost sectors show."""
    first = offset // 512
    sectors = (length + offset % 512 + 511) // 512
    filler = bytes((tag * 7 + i) & 0xFF for i in range(504))
    blob = b"".join(struct.pack(">II", tag, first + s) + filler for s in range(sectors))
    start = offset % 512
    return blob[start:start + length]


class HalfSentWrites:
    """Drives writes of `length` bytes on a session: at first only up to `sent_limit` bytes of each
    are sent (immediate data, the unsolicited first burst when InitialR2T=No, then whatever R2Ts
    ask for below that offset); finish() sends the rest. Records which commands got R2Ts."""

    def __init__(self, session, first_lba, count, length, tag_base, half=True, data=pattern):
        self.s = session
        self.data = data  # data(tag, offset, length) -> bytes
        self.length = length
        self.count = count
        self.tags = [tag_base + i for i in range(count)]
        self.lba = {t: first_lba + i * (length // 512) for i, t in enumerate(self.tags)}
        self.limit = length // 2 if half else length
        self.r2ts = {}         # ttt -> [itt, offset, end, next offset to send, next datasn]
        self.got_r2t = set()   # itts that were given an R2T (their buffer was granted)
        self.status = {}       # itt -> SCSI status
        p = session.params
        self.immediate = min(int(p.get("FirstBurstLength", 65536)), int(p.get("MaxRecvDataSegmentLength", 8192)),
                             length) if p.get("ImmediateData") == "Yes" else 0
        self.unsolicited = min(int(p.get("FirstBurstLength", 65536)), length) if p.get("InitialR2T") == "No" else 0

    def start(self):
        for t in self.tags:
            imm = self.data(t, 0, self.immediate)
            more = self.unsolicited > self.immediate
            self.s.write16(t, self.lba[t], self.length, immediate=imm, final=not more)
            if more:
                end = self.unsolicited
                self.s.data_out(t, RESERVED_TAG, self.immediate, self.data(t, self.immediate, end - self.immediate))

    def _send_r2t_data(self, ttt, limit):
        itt, off, end, nxt, datasn = self.r2ts[ttt]
        stop = min(end, max(limit, nxt))
        if stop > nxt:
            final = stop == end
            datasn = self.s.data_out(itt, ttt, nxt, self.data(itt, nxt, stop - nxt), datasn, final)
            self.r2ts[ttt] = [itt, off, end, stop, datasn]
        if stop == end:
            del self.r2ts[ttt]

    def handle(self, pdu, finishing):
        if pdu.opcode == R2T and pdu.itt in self.lba:
            ttt, off, ln = pdu.u32(20), pdu.u32(40), pdu.u32(44)
            self.got_r2t.add(pdu.itt)
            self.r2ts[ttt] = [pdu.itt, off, off + ln, off, 0]
            self._send_r2t_data(ttt, self.length if finishing else self.limit)
        elif pdu.opcode == SCSI_RESPONSE and pdu.itt in self.lba:
            self.status[pdu.itt] = pdu.bhs[3]
        elif pdu.opcode == REJECT:
            raise IOError(f"target rejected a PDU: {pdu.data[:48].hex()}")

    def finish(self):
        for ttt in list(self.r2ts):
            self._send_r2t_data(ttt, self.length)

    def done(self):
        return len(self.status) == self.count


def pump(drivers, timeout, finishing, until=None):
    """Reads every session's PDUs for up to `timeout` seconds (or until until() is true)."""
    import time
    deadline = time.monotonic() + timeout
    by_fd = {d.s.fileno(): d for d in drivers}
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or (until is not None and until()):
            return
        r, _, _ = select.select(list(by_fd), [], [], min(left, 0.2))
        for fd in r:
            d = by_fd[fd]
            for pdu in d.s.poll(0):
                d.handle(pdu, finishing)
