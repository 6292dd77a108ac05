#!/usr/bin/env python3
"""Post-link fix-up of vstor.sys: drop the COFF symbol table GNU ld appends (the checksum then agrees
with `osslsigncode verify`), make sure IMAGE_FILE_DLL is clear (drivers built by the WDK do not have
it) and write the PE checksum, which Windows checks for kernel images."""
import struct
import sys

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, __import__("os").path.dirname(__file__))
from pe_image import IMAGE_FILE_DLL, PeImage  # noqa: E402


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: pe_fixup.py IN OUT", file=sys.stderr)
        return 2
    with open(sys.argv[1], "rb") as f:
        img = PeImage(f.read())
    img.strip_symbols()
    struct.pack_into("<H", img.data, img.characteristics_offset, img.characteristics & ~IMAGE_FILE_DLL)
    struct.pack_into("<I", img.data, img.checksum_offset, img.compute_checksum())
    with open(sys.argv[2], "wb") as f:
        f.write(img.data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
