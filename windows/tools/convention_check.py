#!/usr/bin/env python3
"""The x86 build must refuse a routine handed to the kernel with the wrong calling convention
(issue 14: a cdecl cancel routine compiled silently and unbalanced the stack on every cancel).
Compiles convention_mismatch.cpp with the i686 cross compiler: once as is (must compile), then
once per deliberate mismatch (cancel routine, timer, HwStartIo, dispatch routine), each of which must fail with an
'invalid conversion' error naming the stdcall type."""
import argparse
import os
import subprocess
import sys

CASES = ["VS_MISMATCH_CANCEL", "VS_MISMATCH_TIMER", "VS_MISMATCH_STARTIO", "VS_MISMATCH_DISPATCH"]


def compile_case(args, define):
    cmd = [args.cxx, "-std=c++20", "-ffreestanding", "-fno-exceptions", "-fno-rtti", "-fsyntax-only",
           "-I" + args.driver_dir, "-I" + args.include, "-I" + args.ddk, os.path.join(os.path.dirname(__file__), "convention_mismatch.cpp")]
    if define:
        cmd.append("-D" + define)
    return subprocess.run(cmd, capture_output=True, text=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cxx", required=True, help="i686-w64-mingw32-g++")
    ap.add_argument("--ddk", required=True, help="mingw-w64 ddk include directory")
    ap.add_argument("--driver-dir", required=True)
    ap.add_argument("--include", required=True, help="the project's include/ (vstor/bridge_protocol.h)")
    args = ap.parse_args()
    failures = []
    base = compile_case(args, None)
    if base.returncode != 0:
        failures.append("the control case (right conventions) does not compile:\n" + base.stderr)
    for case in CASES:
        r = compile_case(args, case)
        if r.returncode == 0:
            failures.append("%s: a cdecl routine was accepted" % case)
        elif "stdcall" not in r.stderr:
            failures.append("%s: failed, but not for the calling convention:\n%s" % (case, r.stderr))
        else:
            print("%s: refused (%s)" % (case, next(l for l in r.stderr.splitlines() if "stdcall" in l).strip()))
    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
