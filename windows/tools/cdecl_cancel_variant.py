#!/usr/bin/env python3
"""Writes the test-only copy of windows/driver/parked_irps.cpp whose cancel routine is cdecl, as
issue 14's audit found it: `NTAPI` removed from cancel_parked and the routine cast to
PDRIVER_CANCEL where it is handed over (what wdm.h's IoSetCancelRoutine macro, casting through
ULONG_PTR, used to do silently). The x86 image linked from it is never shipped: the storport-pe
test PeConvention.CdeclCancelRoutineFailsTheSuite runs it to show the calling-convention check
fails the suite. Fails if the source no longer has exactly one of each text it rewrites."""
import sys

EDITS = [
    ("VOID NTAPI cancel_parked(PDEVICE_OBJECT, PIRP irp) {", "VOID cancel_parked(PDEVICE_OBJECT, PIRP irp) {"),
    ("IoSetCancelRoutine(irp, cancel_parked);", "IoSetCancelRoutine(irp, reinterpret_cast<PDRIVER_CANCEL>(cancel_parked));"),
]


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: cdecl_cancel_variant.py parked_irps.cpp out.cpp", file=sys.stderr)
        return 2
    text = open(sys.argv[1], encoding="utf-8").read()
    for old, new in EDITS:
        if text.count(old) != 1:
            print(f"{sys.argv[1]}: expected exactly one '{old}'", file=sys.stderr)
            return 1
        text = text.replace(old, new)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
