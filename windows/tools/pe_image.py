"""Minimal PE/COFF reader and fixer for vstor.sys (no third-party modules).

Used by pe_fixup.py (build step) and pe_check.py (test). Only what a kernel driver check needs:
headers, sections, the import directory and the optional-header checksum.
"""
import struct

IMAGE_FILE_DLL = 0x2000
MACHINE_AMD64 = 0x8664
MACHINE_I386 = 0x014C


class PeImage:
    def __init__(self, data: bytes):
        self.data = bytearray(data)
        if self.data[:2] != b"MZ":
            raise ValueError("not an MZ image")
        self.pe = struct.unpack_from("<I", self.data, 0x3C)[0]
        if self.data[self.pe:self.pe + 4] != b"PE\0\0":
            raise ValueError("no PE signature")
        coff = self.pe + 4
        (self.machine, self.nsections, _, self.symtab_offset, self.nsymbols, self.opt_size,
         self.characteristics) = struct.unpack_from("<HHIIIHH", self.data, coff)
        self.symtab_field_offset = coff + 8
        self.characteristics_offset = coff + 18
        self.opt = coff + 20
        self.magic = struct.unpack_from("<H", self.data, self.opt)[0]
        if self.magic not in (0x10B, 0x20B):
            raise ValueError("unknown optional header magic %#x" % self.magic)
        self.pe32plus = self.magic == 0x20B
        self.entry_point = struct.unpack_from("<I", self.data, self.opt + 16)[0]
        self.image_base = (struct.unpack_from("<Q", self.data, self.opt + 24)[0] if self.pe32plus
                           else struct.unpack_from("<I", self.data, self.opt + 28)[0])
        self.checksum_offset = self.opt + 64
        self.subsystem = struct.unpack_from("<H", self.data, self.opt + 68)[0]
        self.dll_characteristics = struct.unpack_from("<H", self.data, self.opt + 70)[0]
        dd = self.opt + (112 if self.pe32plus else 96)
        self.ndirs = struct.unpack_from("<I", self.data, dd - 4)[0]
        self.dirs = [struct.unpack_from("<II", self.data, dd + 8 * i) for i in range(self.ndirs)]
        sec = self.opt + self.opt_size
        self.sections = []
        for i in range(self.nsections):
            name, vsize, va, rawsize, rawptr = struct.unpack_from("<8sIIII", self.data, sec + 40 * i)
            self.sections.append((name.rstrip(b"\0").decode("ascii", "replace"), va, vsize, rawptr, rawsize))

    def end_of_sections(self) -> int:
        """The file offset just past the last section's raw data."""
        return max((rawptr + rawsize for _, _, _, rawptr, rawsize in self.sections), default=0)

    def strip_symbols(self) -> None:
        """Drop the COFF symbol and string tables GNU ld appends after the sections (no loader maps
        them, and `osslsigncode verify` disagrees with the checksum while they are there)."""
        if self.symtab_offset == 0:
            return
        if self.symtab_offset < self.end_of_sections():
            raise ValueError("symbol table inside the sections")
        del self.data[self.symtab_offset:]
        struct.pack_into("<II", self.data, self.symtab_field_offset, 0, 0)
        self.symtab_offset = self.nsymbols = 0

    @property
    def checksum(self) -> int:
        return struct.unpack_from("<I", self.data, self.checksum_offset)[0]

    def compute_checksum(self) -> int:
        """The PE image checksum (as imagehlp's CheckSumMappedFile): 16-bit one's-complement-style
        sum of the file with the checksum field taken as zero, folded, plus the file length."""
        buf = bytes(self.data[:self.checksum_offset]) + b"\0\0\0\0" + bytes(self.data[self.checksum_offset + 4:])
        if len(buf) % 2:
            buf += b"\0"
        total = 0
        for (w,) in struct.iter_unpack("<H", buf):
            total += w
            total = (total & 0xFFFF) + (total >> 16)
        total = (total & 0xFFFF) + (total >> 16)
        return (total + len(self.data)) & 0xFFFFFFFF

    def rva_to_offset(self, rva: int) -> int:
        for _, va, vsize, rawptr, rawsize in self.sections:
            if va <= rva < va + max(vsize, rawsize):
                return rawptr + (rva - va)
        raise ValueError("rva %#x outside every section" % rva)

    def cstring(self, rva: int) -> str:
        off = self.rva_to_offset(rva)
        end = self.data.index(b"\0", off)
        return self.data[off:end].decode("ascii")

    def imports(self):
        """{dll name: [imported names]}"""
        result = {}
        if self.ndirs < 2 or self.dirs[1][0] == 0:
            return result
        off = self.rva_to_offset(self.dirs[1][0])
        thunk_size = 8 if self.pe32plus else 4
        ordinal_flag = 1 << (63 if self.pe32plus else 31)
        while True:
            ilt, _, _, name_rva, iat = struct.unpack_from("<IIIII", self.data, off)
            if name_rva == 0:
                break
            dll = self.cstring(name_rva)
            names = []
            t = self.rva_to_offset(ilt or iat)
            while True:
                v = struct.unpack_from("<Q" if self.pe32plus else "<I", self.data, t)[0]
                if v == 0:
                    break
                names.append("#%d" % (v & 0xFFFF) if v & ordinal_flag else self.cstring((v & 0x7FFFFFFF) + 2))
                t += thunk_size
            result[dll] = names
            off += 20
        return result
