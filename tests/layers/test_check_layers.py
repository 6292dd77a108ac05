#!/usr/bin/env python3
"""scripts/check_layers.py against small fixture trees (a violation must fail the build, a clean
tree must pass) and against the real tree with the build's own table (tests/layers/CMakeLists.txt).

    test_check_layers.py --checker scripts/check_layers.py [--root SRC --table build/layers.txt
                         --table windows/layers.txt]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import unittest

ARGS = None

TABLE = """\
# fixture: util at the bottom, scsi on it, iscsi on util only
module util
module scsi util
module iscsi util
except iscsi scsi/allowed_for_now.hpp
"""


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


class Fixture(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        write(self.root, "layers.txt", TABLE)
        write(self.root, "include/vstor/api.hpp", "#pragma once\n#include <cstdint>\n")
        write(self.root, "src/util/log.hpp", "#pragma once\n#include <string>\n")
        write(self.root, "src/scsi/sense.hpp", '#pragma once\n#include "util/log.hpp"\n')
        write(self.root, "src/scsi/allowed_for_now.hpp", "#pragma once\n")
        write(self.root, "src/iscsi/pdu.hpp", "#pragma once\n")
        write(self.root, "src/iscsi/conn.cpp",
              '#include "iscsi/pdu.hpp"\n#include "pdu.hpp"\n#include "util/log.hpp"\n'
              '#include "vstor/api.hpp"\n#include <iscsi/iscsi.h>\n#include "scsi/allowed_for_now.hpp"\n')

    def tearDown(self):
        self.tmp.cleanup()

    def check(self):
        stamp = os.path.join(self.root, "layers.stamp")
        r = subprocess.run([sys.executable, ARGS.checker, "--root", self.root, "--table",
                            os.path.join(self.root, "layers.txt"), "--stamp", stamp],
                           capture_output=True, text=True)
        return r.returncode, r.stderr, os.path.exists(stamp)

    def test_clean_tree_passes(self):
        rc, err, stamped = self.check()
        self.assertEqual(rc, 0, err)
        self.assertTrue(stamped)

    def test_private_header_of_undeclared_module_fails(self):
        write(self.root, "src/iscsi/login.cpp", '#include <string>\n\n#include "scsi/sense.hpp"\n')
        rc, err, stamped = self.check()
        self.assertEqual(rc, 1)
        self.assertFalse(stamped)
        self.assertIn("src/iscsi/login.cpp:3: iscsi may not include scsi/sense.hpp "
                      "(not in DEPDIRS of iscsi)", err)

    def test_angle_brackets_do_not_get_around_it(self):
        write(self.root, "src/iscsi/login.cpp", "#include <scsi/sense.hpp>\n")
        rc, err, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("src/iscsi/login.cpp:1: iscsi may not include scsi/sense.hpp", err)

    def test_dot_dot_does_not_get_around_it(self):
        write(self.root, "src/iscsi/login.cpp", '#include "../scsi/sense.hpp"\n')
        rc, err, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("src/iscsi/login.cpp:1: iscsi may not include ../scsi/sense.hpp", err)

    def test_bare_include_from_another_directory_fails(self):
        write(self.root, "src/iscsi/login.cpp", '#include "sense.hpp"\n')  # found only via an extra -I
        rc, err, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("src/iscsi/login.cpp:1: iscsi may not include sense.hpp (not next to this file", err)

    def test_upward_include_fails(self):
        write(self.root, "src/util/bad.hpp", '#pragma once\n#include "iscsi/pdu.hpp"\n')
        rc, err, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("src/util/bad.hpp:2: util may not include iscsi/pdu.hpp", err)

    def test_module_missing_from_table_fails(self):
        write(self.root, "src/plugin/loader.cpp", "int x;\n")
        rc, err, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("src/plugin is not a module of the layer table", err)

    def test_public_header_may_not_include_private_ones(self):
        write(self.root, "include/vstor/leak.hpp", '#pragma once\n#include "util/log.hpp"\n')
        rc, err, _ = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("include/vstor/leak.hpp:2: the public API may include only vstor/ headers", err)

    def test_unused_exception_is_a_note_not_a_failure(self):
        write(self.root, "src/iscsi/conn.cpp", '#include "iscsi/pdu.hpp"\n')
        rc, err, _ = self.check()
        self.assertEqual(rc, 0, err)
        self.assertIn("exception 'iscsi -> scsi/allowed_for_now.hpp' is no longer needed", err)


WINDOWS_TABLE = """\
root include src windows/driver windows/sim windows/sim/include
area windows/driver  windows/driver/ include/vstor/bridge_protocol.h windows/sim/include/kernel.h <ddk/> <stddef.h>
area windows/sim  windows/sim/ windows/driver/ include/vstor/bridge_protocol.h <*>
area windows/sim/tests  windows/sim/ windows/driver/ src/bridge/ <*>
"""


class WindowsAreas(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        write(self.root, "layers.txt", "module util\nmodule bridge util\n")
        write(self.root, "windows/layers.txt", WINDOWS_TABLE)
        write(self.root, "include/vstor/bridge_protocol.h", "#pragma once\n#include <stdint.h>\n")
        write(self.root, "include/vstor/adapter.hpp", "#pragma once\n")
        write(self.root, "src/util/log.hpp", "#pragma once\n")
        write(self.root, "src/bridge/service.hpp", '#pragma once\n#include "util/log.hpp"\n')
        write(self.root, "windows/driver/miniport.h",
              '#pragma once\n#include <ddk/ntddk.h>\n#include <stddef.h>\n#include "vstor/bridge_protocol.h"\n'
              '#include "kernel.h"\n')
        write(self.root, "windows/driver/start_io.cpp", '#include "miniport.h"\n')
        write(self.root, "windows/sim/include/kernel.h", "#pragma once\n#include <string.h>\n")
        write(self.root, "windows/sim/storport_sim.hpp", '#pragma once\n#include "miniport.h"\n#include <vector>\n')
        write(self.root, "windows/sim/tests/rig.hpp",
              '#pragma once\n#include "storport_sim.hpp"\n#include "bridge/service.hpp"\n')

    def tearDown(self):
        self.tmp.cleanup()

    def check(self):
        r = subprocess.run([sys.executable, ARGS.checker, "--root", self.root,
                            "--table", os.path.join(self.root, "layers.txt"),
                            "--table", os.path.join(self.root, "windows/layers.txt")],
                           capture_output=True, text=True)
        return r.returncode, r.stderr

    def test_clean_tree_passes(self):
        rc, err = self.check()
        self.assertEqual(rc, 0, err)

    def test_driver_may_not_include_the_emulator(self):
        write(self.root, "windows/driver/adapter.cpp", '#include "miniport.h"\n#include "storport_sim.hpp"\n')
        rc, err = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("windows/driver/adapter.cpp:2: windows/driver may not include storport_sim.hpp "
                      "(windows/sim/storport_sim.hpp; not in its rule in windows/layers.txt)", err)

    def test_driver_may_not_include_other_public_headers_or_the_stl(self):
        write(self.root, "windows/driver/adapter.cpp", '#include <vstor/adapter.hpp>\n#include <vector>\n')
        rc, err = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("windows/driver/adapter.cpp:1: windows/driver may not include vstor/adapter.hpp "
                      "(include/vstor/adapter.hpp;", err)
        self.assertIn("windows/driver/adapter.cpp:2: windows/driver may not include vector (a system header;", err)

    def test_emulator_may_not_include_the_service(self):
        write(self.root, "windows/sim/ioctl_server.cpp", '#include "bridge/service.hpp"\n')
        rc, err = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("windows/sim/ioctl_server.cpp:1: windows/sim may not include bridge/service.hpp "
                      "(src/bridge/service.hpp;", err)

    def test_file_outside_every_area_fails(self):
        write(self.root, "windows/extra/tool.cpp", "int x;\n")
        rc, err = self.check()
        self.assertEqual(rc, 1)
        self.assertIn("windows/extra/tool.cpp:1: windows/extra is in no area of the layer table", err)


class RealTree(unittest.TestCase):
    def test_source_tree_keeps_its_layers(self):
        if not ARGS.table:
            self.skipTest("no --table given")
        tables = [a for t in ARGS.table for a in ("--table", t)]
        r = subprocess.run([sys.executable, ARGS.checker, "--root", ARGS.root, *tables],
                           capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--checker", required=True)
    ap.add_argument("--root")
    ap.add_argument("--table", action="append")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
