"""Raw iSCSI PDUs over a Python socket, for abuse tests that must send what no real initiator
sends (RFC 7143 framing: 48-byte BHS, data padded to 4 bytes, no digests). The one place that
frames, parses and builds PDUs; raw_iscsi.py drives SCSI writes on top of it.

    from iscsi_pdu import Conn, login_request, kv
    c = Conn(port)
    c.send(login_request(kv(InitiatorName="iqn...", SessionType="Discovery"), transit=True))
    r = c.recv()              # Pdu: r.opcode, r.flags, r.status, r.data, r.keys()
    c.login(initiator, target=None, chap=("user", "secret"))   # whole login, returns the last Pdu
"""
import hashlib
import socket
import struct

NOP_OUT, SCSI_COMMAND, TMF_REQUEST, LOGIN_REQUEST, TEXT_REQUEST, DATA_OUT = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
NOP_IN, SCSI_RESPONSE, TMF_RESPONSE, LOGIN_RESPONSE, TEXT_RESPONSE, DATA_IN = 0x20, 0x21, 0x22, 0x23, 0x24, 0x25
R2T, ASYNC_MESSAGE, REJECT = 0x31, 0x32, 0x3F
RESERVED_TAG = 0xFFFFFFFF

INITIATOR = "iqn.2026-12.org.vstor.abuse:initiator"


class ProtocolError(Exception):
    pass


def kv(*pairs, **keys):
    """key=value\\0 text; positional (key, value) pairs keep their order before the keywords."""
    items = list(pairs) + list(keys.items())
    return b"".join(f"{k}={v}".encode() + b"\0" for k, v in items)


def parse_kv(data):
    out = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            out[k.decode()] = v.decode()
    return out


class Pdu:
    def __init__(self, bhs, data):
        self.bhs = bhs
        self.data = data
        self.opcode = bhs[0] & 0x3F
        self.flags = bhs[1]
        self.itt = self.u32(16)
        self.statsn = self.u32(24)
        # Login Response: status class and detail (RFC 7143 11.13.5).
        self.status = struct.unpack_from(">H", bhs, 36)[0]
        self.tsih = struct.unpack_from(">H", bhs, 14)[0]

    def u32(self, off):
        return struct.unpack_from(">I", self.bhs, off)[0]

    def keys(self):
        return parse_kv(self.data)

    @property
    def final(self):
        return bool(self.flags & 0x80)


def pad(n):
    """Bytes of padding after a data segment of n bytes."""
    return (-n) % 4


def frame(bhs, data=b""):
    """A PDU as bytes: the 48-byte BHS with DataSegmentLength set, then the padded data."""
    bhs = bytearray(bhs)
    bhs[5:8] = len(data).to_bytes(3, "big")
    return bytes(bhs) + data + b"\0" * pad(len(data))


def take_pdu(buf):
    """The first whole PDU in bytearray buf (removed from it), or None while it is incomplete."""
    if len(buf) < 48:
        return None
    bhs = bytes(buf[:48])
    ahs = bhs[4] * 4
    dlen = int.from_bytes(bhs[5:8], "big")
    total = 48 + ahs + dlen + pad(dlen)
    if len(buf) < total:
        return None
    data = bytes(buf[48 + ahs:48 + ahs + dlen])
    del buf[:total]
    return Pdu(bhs, data)


def pdu(opcode, flags, data=b"", itt=1, fields=None, immediate=True):
    """A PDU as bytes. fields: {byte offset: bytes} written into the BHS."""
    bhs = bytearray(48)
    bhs[0] = opcode | (0x40 if immediate else 0)
    bhs[1] = flags
    bhs[16:20] = struct.pack(">I", itt)
    for off, value in (fields or {}).items():
        bhs[off:off + len(value)] = value
    return frame(bhs, data)


def login_request(data=b"", csg=0, nsg=1, transit=False, cont=False, itt=1, isid=b"\x80\x00\x00\x00\x00\x01",
                  tsih=0, cid=0, cmdsn=1, exp_statsn=0):
    flags = (0x80 if transit else 0) | (0x40 if cont else 0) | (csg << 2) | (nsg if transit else 0)
    return pdu(LOGIN_REQUEST, flags, data, itt,
               {8: isid, 14: struct.pack(">H", tsih), 20: struct.pack(">H", cid),
                24: struct.pack(">I", cmdsn), 28: struct.pack(">I", exp_statsn)})


def text_request(data, itt=2, cmdsn=1, exp_statsn=0, ttt=0xFFFFFFFF):
    return pdu(TEXT_REQUEST, 0x80, data, itt,
               {20: struct.pack(">I", ttt), 24: struct.pack(">I", cmdsn), 28: struct.pack(">I", exp_statsn)})


def chap_response(ident, secret, challenge):
    """CHAP_R for CHAP_I/CHAP_C as the target sent them (RFC 1994: MD5(id || secret || challenge))."""
    c = bytes.fromhex(challenge[2:]) if challenge.lower().startswith("0x") else None
    if c is None:
        raise ProtocolError(f"unexpected CHAP_C {challenge!r}")
    return "0x" + hashlib.md5(bytes([int(ident)]) + secret.encode() + c).hexdigest()


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.exp_statsn = 0

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def send(self, data):
        self.sock.sendall(data)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionResetError("connection closed by the target")
            buf += chunk
        return buf

    def recv(self):
        bhs = self._read(48)
        length = int.from_bytes(bhs[5:8], "big")
        data = self._read(bhs[4] * 4 + length + pad(length))[bhs[4] * 4:][:length]
        p = Pdu(bhs, data)
        self.exp_statsn = p.statsn + 1
        return p

    def closed_by_peer(self, timeout):
        """True when the target closes the connection within timeout seconds (data is skipped)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def login(self, initiator=INITIATOR, target=None, chap=None):
        """Security + operational stages; returns the final Login Response (status checked by
        the caller). chap: (user, secret) to answer a CHAP challenge with."""
        first = [("InitiatorName", initiator)]
        first += [("TargetName", target)] if target else [("SessionType", "Discovery")]
        first += [("AuthMethod", "CHAP,None" if chap else "None")]
        self.send(login_request(kv(*first), transit=not chap, exp_statsn=self.exp_statsn))
        r = self.recv()
        if r.status or not chap:
            return r if r.status else self._operational()
        if r.keys().get("AuthMethod") != "CHAP":
            raise ProtocolError(f"target did not choose CHAP: {r.keys()}")
        self.send(login_request(kv(CHAP_A="5"), exp_statsn=self.exp_statsn))
        r = self.recv()
        if r.status:
            return r
        k = r.keys()
        user, secret = chap
        self.send(login_request(kv(CHAP_N=user, CHAP_R=chap_response(k["CHAP_I"], secret, k["CHAP_C"])),
                                transit=True, exp_statsn=self.exp_statsn))
        r = self.recv()
        return r if r.status else self._operational()

    def _operational(self):
        self.send(login_request(kv(HeaderDigest="None", DataDigest="None"), csg=1, nsg=3, transit=True,
                                exp_statsn=self.exp_statsn))
        return self.recv()
