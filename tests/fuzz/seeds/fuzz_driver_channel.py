#!/usr/bin/env python3
"""Seeds for fuzz_driver_channel: scripts (its Script/Channel format) of a service doing its job
(SRBs started, handed out, answered with their real tags and lengths; LUNs announced; a new
session), so that a short bounded run mutates a working exchange instead of searching for one.
Usage: fuzz_driver_channel.py CORPUS_DIR (writes seed-*.bin there)."""
import struct

import seed_files

START, ANSWER, FETCH, RAW, ANNOUNCE, RECONNECT = 0, 2, 4, 5, 6, 7
OP_CONNECT, OP_TRANSACT, OP_LUN, OP_DISCONNECT = 1, 2, 3, 4
FLAG_NO_WAIT = 0x2
MIN_BUFFER = 16 + 272 + (1 << 20)  # VSTOR_TRANSACT_MIN_BUFFER


def start(blocks, write=False, lun=0, lba=0):
    return bytes([START, blocks | (0x10 if write else 0) | (0x20 if lun else 0)]) + struct.pack("<H", lba)


def answer(index, result=0):
    return bytes([ANSWER, 0x02, index, result])  # the real tag, its own length, GOOD, 18 bytes of sense


def raw(op, flags=0, body=b""):
    return bytes([RAW, 0, op]) + struct.pack("<I", flags) + bytes([len(body)]) + body


def seeds():
    yield "read-write", (start(2, lba=8) + start(1, write=True, lba=9) + FETCH.to_bytes(1, "little") * 2
                         + answer(0) + answer(1))
    yield "many", b"".join(start(b % 9, write=b & 1, lba=b) for b in range(8)) + bytes([FETCH] * 8) + b"".join(
        answer(i) for i in range(8))
    yield "failures", (start(4) + start(4, write=True) + bytes([FETCH, FETCH]) + answer(0, result=1)
                       + answer(1, result=3) + answer(0))  # the last one is stale
    yield "luns", (bytes([ANNOUNCE, 0x11, ANNOUNCE, 0x91]) + start(1, lun=1) + bytes([FETCH]) + answer(0)
                   + raw(OP_LUN, body=bytes([0, 0, 0, 0]) + bytes(4)))
    yield "raw-transact", (start(2) + raw(OP_TRANSACT, FLAG_NO_WAIT) + raw(OP_TRANSACT, FLAG_NO_WAIT | 1)
                           + raw(OP_DISCONNECT) + bytes([RECONNECT]) + start(1) + bytes([FETCH]) + answer(0))
    yield "reconnect", (start(3) + raw(OP_CONNECT, body=struct.pack("<II", MIN_BUFFER, 0)) + start(2)
                        + raw(OP_LUN, body=bytes([0, 0, 0, 1]) + bytes(4)) + start(2) + bytes([FETCH]) + answer(0))


if __name__ == "__main__":
    seed_files.write(seeds())
