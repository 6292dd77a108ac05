#!/usr/bin/env python3
"""The layering check: no file under src/<module>/ includes another module's header unless that
module is one of its declared dependencies (the DEPDIRS table in src/CMakeLists.txt, written to
a table file at configure time), and the public headers (include/vstor/) include nothing but each
other. Every library of the build depends on this check, so a violation fails the build:

    src/iscsi/foo.cpp:12: iscsi may not include scsi/sense.hpp (not in DEPDIRS of iscsi)

Table file, one statement a line ('#' starts a comment):
    module <name> [<dependency> ...]    a module and the modules whose headers it may include
    except <name> <module>/<header>     one header outside the dependencies, allowed until fixed
Every module may include its own headers and the public API (include/vstor/, "vstor/...").

Directories outside src/ (windows/) are areas, in a table of their own (windows/layers.txt):
    root <dir> ...                      the include path: where a quoted or <x/y.h> include is
                                        looked for (after the including file's own directory)
    area <dir> <rule> ...               what the files below <dir> (the longest area that holds
                                        them) may include; a <rule> is one of
        <project dir>/                  any header below it, e.g. windows/driver/
        <project header>                that header, e.g. include/vstor/bridge_protocol.h
        <name> / <prefix/> / <*>        a system header (one not found on the roots): that one,
                                        any below that prefix (<ddk/>), or any at all
An include that finds a project header its area's rule does not name fails, as does a system
header the rule does not name:

    windows/driver/io.cpp:3: windows/driver may not include storport_sim.hpp (windows/sim/storport_sim.hpp)
"""
import argparse
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
SOURCE_SUFFIXES = (".cpp", ".hpp", ".h", ".cc", ".inc")
PUBLIC = "vstor"  # include/vstor/: the public API every module may use


def read_table(paths):
    deps, excepts, areas, roots = {}, {}, {}, []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                words = line.split("#", 1)[0].split()
                if not words:
                    continue
                if words[0] == "module" and len(words) >= 2:
                    deps[words[1]] = set(words[2:])
                elif words[0] == "except" and len(words) == 3:
                    excepts.setdefault(words[1], set()).add(words[2])
                elif words[0] == "area" and len(words) >= 2:
                    areas[words[1].rstrip("/")] = (words[2:], path)
                elif words[0] == "root" and len(words) >= 2:
                    roots += [w.rstrip("/") for w in words[1:]]
                else:
                    sys.exit(f"{path}:{n}: cannot read this line of the layer table")
    for mod, ds in deps.items():
        for d in ds - set(deps):
            sys.exit(f"{paths[0]}: module {mod} depends on {d}, which is not in the table")
    return deps, excepts, areas, roots


def source_files(top):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(SOURCE_SUFFIXES):
                yield os.path.join(dirpath, name)


def includes(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m:
                yield n, m.group(1), m.group(2)


def check_src(root, deps, excepts):
    src = os.path.join(root, "src")
    errors = []
    used = set()
    for path in source_files(src):
        rel = os.path.relpath(path, root)
        parts = os.path.relpath(path, src).split(os.sep)
        mod = parts[0]
        if len(parts) < 2 or mod not in deps:
            errors.append(f"{rel}:1: src/{mod} is not a module of the layer table (src/CMakeLists.txt)")
            continue
        allowed = deps[mod] | {mod, PUBLIC}
        for n, kind, target in includes(path):
            if ".." in target.split("/"):
                errors.append(f"{rel}:{n}: {mod} may not include {target} (no '..' in includes: "
                              f"name the module)")
                continue
            first = target.split("/", 1)[0]
            if "/" not in target and kind == '"':
                if not os.path.exists(os.path.join(os.path.dirname(path), target)):
                    errors.append(f"{rel}:{n}: {mod} may not include {target} (not next to this file: "
                                  f"name its module, or the include path reaches outside src/)")
                continue
            if "/" not in target or first == PUBLIC:
                continue  # a system header, or the public API
            # <x/y.h> is a system or library header unless x is one of our modules (e.g. libiscsi's
            # <iscsi/iscsi.h>): with src on the include path, <scsi/sense.hpp> would still find ours.
            if first not in deps or (kind == "<" and not os.path.exists(os.path.join(src, target))):
                continue
            if first in allowed:
                continue
            if target in excepts.get(mod, ()):
                used.add((mod, target))
                continue
            errors.append(f"{rel}:{n}: {mod} may not include {target} (not in DEPDIRS of {mod})")
    # An exception nothing needs any more is only a note: whoever removed the include may not own
    # the table, and the build should not break for a rule that became stricter than needed.
    for mod, targets in sorted(excepts.items()):
        for target in sorted(targets - {t for m, t in used if m == mod}):
            print(f"note: layer table: exception '{mod} -> {target}' is no longer needed", file=sys.stderr)
    return errors


def check_public(root, deps):
    public = os.path.join(root, "include", PUBLIC)
    errors = []
    if not os.path.isdir(public):
        return errors
    for path in source_files(public):
        rel = os.path.relpath(path, root)
        for n, kind, target in includes(path):
            first = target.split("/", 1)[0]
            if kind == '"' and first != PUBLIC or kind == "<" and first in deps:
                errors.append(f"{rel}:{n}: the public API may include only vstor/ headers, not {target}")
    return errors


def area_of(rel, areas):
    """The longest area that holds `rel`, or None."""
    best = None
    for area in areas:
        if rel.startswith(area + "/") and (best is None or len(area) > len(best)):
            best = area
    return best


def resolve(root, path, kind, target, roots):
    """The project file an include finds (relative to the root), or None for a system header."""
    if kind == '"':
        local = os.path.normpath(os.path.join(os.path.dirname(path), target))
        if os.path.isfile(local):
            return os.path.relpath(local, root).replace(os.sep, "/")
    for r in roots:
        if os.path.isfile(os.path.join(root, r, target)):
            return f"{r}/{target}"
    return None


def rule_admits(rules, found, target):
    for rule in rules:
        if rule.startswith("<") and rule.endswith(">"):
            name = rule[1:-1]
            if found is None and (name == "*" or target == name or name.endswith("/") and target.startswith(name)):
                return True
        elif found is not None and (found == rule or rule.endswith("/") and found.startswith(rule)):
            return True
    return False


def shown(table, root):
    """A table's path as the messages name it: relative to the source tree when inside it."""
    rel = os.path.relpath(os.path.abspath(table), os.path.abspath(root))
    return table if rel.startswith("..") else rel


def check_areas(root, areas, roots):
    errors = []
    for top in sorted({a.split("/", 1)[0] for a in areas}):
        if not os.path.isdir(os.path.join(root, top)):
            continue
        for path in source_files(os.path.join(root, top)):
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            area = area_of(rel, areas)
            if area is None:
                errors.append(f"{rel}:1: {os.path.dirname(rel)} is in no area of the layer table "
                              f"({shown(next(iter(areas.values()))[1], root)})")
                continue
            rules, table = areas[area]
            for n, kind, target in includes(path):
                if ".." in target.split("/"):
                    errors.append(f"{rel}:{n}: {area} may not include {target} (no '..' in includes)")
                    continue
                found = resolve(root, path, kind, target, roots)
                if rule_admits(rules, found, target):
                    continue
                what = found if found else "a system header"
                errors.append(f"{rel}:{n}: {area} may not include {target} ({what}; not in its rule in "
                              f"{shown(table, root)})")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="source tree holding src/ and include/")
    ap.add_argument("--table", required=True, action="append",
                    help="layer table (src/CMakeLists.txt writes the modules'; windows/layers.txt); repeatable")
    ap.add_argument("--stamp", help="file to touch when the check passes")
    args = ap.parse_args()
    deps, excepts, areas, roots = read_table(args.table)
    errors = check_src(args.root, deps, excepts) + check_public(args.root, deps) + check_areas(args.root, areas, roots)
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        print(f"layering: {len(errors)} include(s) cross a module boundary (docs/architecture.md, "
              f"'Layers')", file=sys.stderr)
        return 1
    if args.stamp:
        with open(args.stamp, "w", encoding="utf-8") as f:
            f.write("ok\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
