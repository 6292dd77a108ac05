#!/usr/bin/env python3
"""Seeds for fuzz_bridge_service: well-formed driver outputs (bridge_protocol.h), so that a short
bounded run starts from requests the service runs rather than searching for the 80-byte layout.
Usage: fuzz_bridge_service.py CORPUS_DIR (writes seed-*.bin there)."""
import struct

import seed_files

MAGIC, VERSION, OP_TRANSACT = 0x52545356, 2, 2
REQ_SCSI, REQ_BUS_RESET, REQ_LUN_RESET, REQ_SHUTDOWN = 1, 2, 3, 4
DIR_NONE, DIR_IN, DIR_OUT = 0, 1, 2


def output(kind, tag=0, target=0, lun=0, cdb=b"", direction=DIR_NONE, length=0, data=b"", attribute=0):
    header = struct.pack("<IHHII", MAGIC, VERSION, OP_TRANSACT, 7, 0)
    request = struct.pack("<QIBBBBBBHIII32s", tag, kind, 0, target, lun, len(cdb), direction, attribute, 0,
                          length, 30, 0, cdb)
    body = header + request + data
    return struct.pack("<H", len(body)) + body


def scsi(tag, cdb, direction=DIR_NONE, length=0, data=b"", target=0, lun=0, attribute=0):
    return output(REQ_SCSI, tag, target, lun, cdb, direction, length, data, attribute)


def seeds():
    for t in (0, 1):
        yield f"inquiry-t{t}", scsi(1, bytes([0x12, 0, 0, 0, 96, 0]), DIR_IN, 96, target=t)
        yield f"write-read-t{t}", (scsi(2, bytes([0x2a, 0, 0, 0, 0, 8, 0, 0, 1, 0]), DIR_OUT, 512, bytes(range(256)) * 2, target=t)
                                   + scsi(3, bytes([0x28, 0, 0, 0, 0, 8, 0, 0, 1, 0]), DIR_IN, 512, target=t))
        yield f"resets-t{t}", (scsi(4, bytes(6), target=t)  # TEST UNIT READY
                               + output(REQ_LUN_RESET, target=t, lun=0)
                               + scsi(5, bytes([0x03, 0, 0, 0, 252, 0]), DIR_IN, 252, target=t)  # REQUEST SENSE
                               + output(REQ_BUS_RESET, target=0xFF)
                               + scsi(6, bytes([0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0]), DIR_IN, 64, target=t, lun=1)
                               + output(REQ_SHUTDOWN))
        yield f"ordered-t{t}", (scsi(7, bytes([0x35] + [0] * 9), target=t, attribute=2)  # SYNCHRONIZE CACHE(10)
                                + scsi(7, bytes([0x25] + [0] * 9), DIR_IN, 8, target=t, attribute=1))  # same tag


if __name__ == "__main__":
    seed_files.write(seeds())
