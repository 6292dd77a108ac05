#!/usr/bin/env python3
"""Checks a cross-built vstor.sys is something the Windows kernel would load as a StorPort miniport:
right machine and PE flavour, subsystem native, not flagged as a DLL, an entry point in .text,
imports only from ntoskrnl.exe / storport.sys / hal.dll (and the StorPort ones it needs), no TLS,
and a correct PE checksum. Cross-checks the import list with binutils' objdump when given."""
import argparse
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.dirname(__file__))
from pe_image import IMAGE_FILE_DLL, MACHINE_AMD64, MACHINE_I386, PeImage  # noqa: E402

ALLOWED_DLLS = {"ntoskrnl.exe", "storport.sys", "hal.dll"}
REQUIRED_STORPORT = {"StorPortInitialize", "StorPortNotification", "StorPortExtendedFunction"}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["x64", "x86"], required=True)
    ap.add_argument("--objdump")
    ap.add_argument("--nm", help="binutils nm: check the entry point is DriverEntry")
    ap.add_argument("--symbols", help="the image before pe_fixup stripped it, for --nm")
    ap.add_argument("--osslsigncode", help="check `osslsigncode verify` computes the same PE checksum")
    ap.add_argument("image")
    args = ap.parse_args()
    with open(args.image, "rb") as f:
        img = PeImage(f.read())
    errors = []

    def check(cond, msg):
        if not cond:
            errors.append(msg)

    if args.arch == "x64":
        check(img.machine == MACHINE_AMD64, "machine %#x, want AMD64" % img.machine)
        check(img.pe32plus, "not PE32+")
    else:
        check(img.machine == MACHINE_I386, "machine %#x, want i386" % img.machine)
        check(not img.pe32plus, "not PE32")
    check(img.subsystem == 1, "subsystem %d, want 1 (native)" % img.subsystem)
    check(not (img.characteristics & IMAGE_FILE_DLL), "IMAGE_FILE_DLL set")
    check(img.checksum != 0 and img.checksum == img.compute_checksum(),
          "checksum %#x, computed %#x" % (img.checksum, img.compute_checksum()))
    text = [s for s in img.sections if s[0] == ".text"]
    check(len(text) == 1 and text[0][1] <= img.entry_point < text[0][1] + text[0][2],
          "entry point %#x not in .text" % img.entry_point)
    check(not any(s[0] == ".tls" for s in img.sections), "has a .tls section")
    check(img.symtab_offset == 0 and img.nsymbols == 0, "COFF symbol table left in the image")
    check(not any(s[0].startswith(".eh_fram") for s in img.sections), "has GCC's .eh_frame (unused by Windows)")
    if args.arch == "x64":
        check(any(s[0] == ".pdata" for s in img.sections), "no .pdata (x64 needs unwind data)")
    check(img.dirs[0] == (0, 0) and not any(s[0] == ".edata" for s in img.sections),
          "has an export directory (a driver exports nothing)")
    check(img.ndirs <= 9 or img.dirs[9] == (0, 0), "has a TLS directory (needs a C runtime)")
    imports = img.imports()
    dlls = {d.lower() for d in imports}
    check(dlls <= ALLOWED_DLLS, "imports from %s" % sorted(dlls - ALLOWED_DLLS))
    storport = set(next((v for k, v in imports.items() if k.lower() == "storport.sys"), []))
    check(REQUIRED_STORPORT <= storport, "storport imports %s, missing %s" % (sorted(storport),
                                                                            sorted(REQUIRED_STORPORT - storport)))
    if args.objdump:
        out = subprocess.run([args.objdump, "-p", args.image], capture_output=True, text=True, check=True).stdout
        check("(NT native)" in out, "objdump: subsystem is not NT native")
        objdump_dlls = {m.lower() for m in re.findall(r"DLL Name: (\S+)", out)}
        check(objdump_dlls == dlls, "objdump DLLs %s != %s" % (sorted(objdump_dlls), sorted(dlls)))
    if args.nm:
        want = "DriverEntry" if args.arch == "x64" else "_DriverEntry@8"
        syms = subprocess.run([args.nm, args.symbols or args.image], capture_output=True, text=True,
                              check=True).stdout
        addrs = [int(line.split()[0], 16) for line in syms.splitlines()
                 if len(line.split()) == 3 and line.split()[2] == want]
        check(addrs == [img.image_base + img.entry_point],
              "entry point %#x is not %s (%s)" % (img.image_base + img.entry_point, want, [hex(a) for a in addrs]))
    if args.osslsigncode:
        out = subprocess.run([args.osslsigncode, "verify", "-in", args.image], capture_output=True, text=True)
        text = out.stdout + out.stderr
        # Agreeing checksums print as one "PE checksum" line, a mismatch as "Current"/"Calculated".
        cur = re.search(r"^(?:Current )?PE checksum\s*:\s*([0-9A-Fa-f]+)", text, re.M)
        calc = re.search(r"^Calculated PE checksum\s*:\s*([0-9A-Fa-f]+)", text, re.M) or cur
        check(cur is not None and int(cur.group(1), 16) == int(calc.group(1), 16)
              == img.checksum, "osslsigncode verify: checksum %s, calculated %s, header %#x" % (
                  cur and cur.group(1), calc and calc.group(1), img.checksum))
    for dll, names in sorted(imports.items()):
        print("%s: %s" % (dll, ", ".join(names)))
    print("size %d bytes, checksum %#x, entry %#x" % (len(img.data), img.checksum, img.entry_point))
    for e in errors:
        print("FAIL: " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
