#!/usr/bin/env python3
"""Parses one architecture's vstor.inf (made from windows/driver/vstor.inf.in) and checks what makes it install vstor.sys as a root-enumerated
StorPort virtual miniport: the SCSIAdapter class and its GUID, a catalog file, NTx86 and NTamd64
model sections naming root\\vstor, an install section copying vstor.sys, the associated kernel
service in LoadOrderGroup "SCSI Miniport" with BusType virtual (0xE), and every %string% defined."""
import re
import sys

SCSI_ADAPTER_GUID = "{4D36E97B-E325-11CE-BFC1-08002BE10318}"


def strip_comment(line: str) -> str:
    out, quoted = [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            break
        out.append(ch)
    return "".join(out).strip()


def parse(text: str):
    sections, current = {}, None
    for raw in text.splitlines():
        line = strip_comment(raw)
        if not line:
            continue
        m = re.fullmatch(r"\[([^\]]+)\]", line)
        if m:
            current = m.group(1).strip().lower()
            if current in sections:
                raise ValueError("section [%s] defined twice" % current)
            sections[current] = []
            continue
        if current is None:
            raise ValueError("line outside a section: %r" % raw)
        if "=" in line:
            k, v = line.split("=", 1)
            sections[current].append((k.strip(), v.strip()))
        else:
            sections[current].append((None, line))
    return sections


def fields(value: str):
    return [f.strip().strip('"') for f in value.split(",")]


def main() -> int:
    # inf_check.py --arch x64|x86 vstor.inf: the INF must offer the driver for that architecture only.
    if len(sys.argv) != 4 or sys.argv[1] != "--arch" or sys.argv[2] not in ("x64", "x86"):
        print("usage: inf_check.py --arch x64|x86 vstor.inf", file=sys.stderr)
        return 2
    want = {"x64": "ntamd64", "x86": "ntx86"}[sys.argv[2]]
    text = open(sys.argv[3], encoding="utf-8").read()
    s = parse(text)
    errors = []

    def check(cond, msg):
        if not cond:
            errors.append(msg)

    def get(section, key):
        for k, v in s.get(section.lower(), []):
            if k is not None and k.lower() == key.lower():
                return v
        return None

    check(get("Version", "Signature") in ('"$WINDOWS NT$"', '"$Windows NT$"'), "Signature")
    check(get("Version", "Class") == "SCSIAdapter", "Class is not SCSIAdapter")
    check((get("Version", "ClassGuid") or "").upper() == SCSI_ADAPTER_GUID, "ClassGuid")
    check((get("Version", "CatalogFile") or "").lower().endswith(".cat"), "CatalogFile missing")
    check(re.fullmatch(r"\d\d/\d\d/\d{4},\d+\.\d+\.\d+\.\d+", get("Version", "DriverVer") or "") is not None,
          "DriverVer must be mm/dd/yyyy,w.x.y.z")

    strings = {k.lower(): v for k, v in s.get("strings", []) if k}
    code = "\n".join(strip_comment(line) for line in text.splitlines())
    for token in set(re.findall(r"%([A-Za-z_][A-Za-z0-9_]*)%", code)):
        check(token.lower() in strings, "%%%s%% not in [Strings]" % token)

    manufacturer = s.get("manufacturer", [])
    check(len(manufacturer) == 1, "one manufacturer expected")
    install_sections = set()
    if manufacturer:
        decl = fields(manufacturer[0][1])
        models, decorations = decl[0], [d.lower() for d in decl[1:]]
        check(decorations == [want], "Manufacturer decorations %s, want only %s (a package for one "
              "architecture: the wrong folder must offer nothing, not a wrong-architecture driver)" % (decorations, want))
        for deco in decorations:
            entries = s.get("%s.%s" % (models.lower(), deco))
            check(bool(entries), "no [%s.%s] section" % (models, deco))
            for _, v in entries or []:
                f = fields(v)
                check(len(f) >= 2 and f[1].lower() == "root\\vstor", "%s: hardware id %r" % (deco, f[1:]))
                install_sections.add(f[0].lower())
    check(len(install_sections) == 1, "install sections %s" % sorted(install_sections))
    for inst in install_sections:
        check(inst in s, "install section [%s] missing" % inst)
        copy = get(inst, "CopyFiles")
        check(copy is not None and "vstor.sys" in [e for _, e in s.get(copy.lower(), [])],
              "CopyFiles does not copy vstor.sys")
        # The device's security descriptor: SYSTEM and Administrators only, secure open.
        hw_addreg = get(inst + ".hw", "AddReg")
        hw_regs = [fields(v) for k, v in s.get((hw_addreg or "").lower(), []) if k is None]
        sddl = [r[4] for r in hw_regs if len(r) >= 5 and r[0].upper() == "HKR" and r[1] == "" and r[2] == "Security"]
        check(sddl == ["D:P(A;;GA;;;SY)(A;;GA;;;BA)"],
              "[%s.HW] does not set Security to SYSTEM and Administrators only: %r" % (inst, sddl))
        chars = [r[4] for r in hw_regs if len(r) >= 5 and r[2] == "DeviceCharacteristics"]
        check(len(chars) == 1 and int(chars[0], 0) & 0x100, "DeviceCharacteristics lacks FILE_DEVICE_SECURE_OPEN")
        services = s.get(inst + ".services", [])
        check(len(services) == 1 and services[0][0].lower() == "addservice", "[%s.Services]" % inst)
        if services:
            name, flags, svc = fields(services[0][1])[:3]
            check(name == "vstor", "service name %r" % name)
            check(int(flags, 0) & 0x2, "AddService without SPSVCINST_ASSOCSERVICE")
            check(get(svc, "ServiceType") == "1", "ServiceType is not kernel driver")
            check(get(svc, "StartType") in ("0", "3"), "StartType")
            check(get(svc, "ErrorControl") is not None, "ErrorControl")
            check((get(svc, "ServiceBinary") or "").lower() == "%12%\\vstor.sys", "ServiceBinary")
            check(get(svc, "LoadOrderGroup") == '"SCSI Miniport"', "LoadOrderGroup")
            addreg = get(svc, "AddReg")
            regs = [fields(v) for k, v in s.get((addreg or "").lower(), []) if k is None]
            bus = [r for r in regs if len(r) >= 5 and r[1] == "Parameters" and r[2] == "BusType"]
            check(len(bus) == 1 and int(bus[0][4], 0) == 0xE, "Parameters\\BusType is not 0xE (virtual)")
    check("vstor.sys" in [k for k, _ in s.get("sourcedisksfiles", [])], "SourceDisksFiles lacks vstor.sys")
    for e in errors:
        print("FAIL: " + e)
    if not errors:
        print("vstor.inf (%s): ok (%d sections)" % (want, len(s)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
