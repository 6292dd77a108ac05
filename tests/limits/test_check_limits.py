#!/usr/bin/env python3
"""scripts/check_limits.py against small fixture trees (a long file and a long function fail the
build; braces in comments, strings, character literals, raw strings and preprocessor lines do
not count; lambdas count in their function) and against the real tree (tests/limits/CMakeLists.txt).

    test_check_limits.py --checker scripts/check_limits.py [--root SRC]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import unittest

ARGS = None


def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def function(name, lines, body_line="    x += 1;\n"):
    """A function whose name stands on its first line and whose closing brace is line `lines`."""
    return f"int {name}(int x) {{\n" + body_line * (lines - 3) + "    return x;\n}\n"


class Fixture(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = self.tmp.name
        write(self.root, "src/util/small.cpp", "namespace v {\n" + function("small", 10) + "}\n")
        write(self.root, "windows/sim/ok.cpp", function("ok", 100))

    def tearDown(self):
        self.tmp.cleanup()

    def check(self, *extra):
        stamp = os.path.join(self.root, "limits.stamp")
        r = subprocess.run([sys.executable, ARGS.checker, "--root", self.root, "--stamp", stamp, *extra],
                           capture_output=True, text=True)
        return r.returncode, r.stderr, os.path.exists(stamp)

    def assert_fails_with(self, line):
        rc, err, stamped = self.check()
        self.assertEqual(rc, 1, err)
        self.assertFalse(stamped)
        self.assertIn(line, err.splitlines())

    def test_clean_tree_passes(self):
        rc, err, stamped = self.check()
        self.assertEqual(rc, 0, err)
        self.assertTrue(stamped)

    def test_long_file_fails(self):
        write(self.root, "src/nbd/big.cpp", "int a;\n" * 501)
        self.assert_fails_with("src/nbd/big.cpp:1: file is 501 lines (limit 500)")

    def test_file_of_500_lines_and_long_header_pass(self):
        write(self.root, "src/nbd/full.cpp", "int a;\n" * 500)
        write(self.root, "src/nbd/table.hpp", "int a;\n" * 900)  # the file limit is for .cpp files
        rc, err, _ = self.check()
        self.assertEqual(rc, 0, err)

    def test_long_function_fails(self):
        write(self.root, "src/cli/run.cpp", "#include <x>\n\n" + function("run_serve", 101))
        self.assert_fails_with("src/cli/run.cpp:3: function run_serve is 101 lines (limit 100)")

    def test_long_function_in_header_and_windows_fails(self):
        write(self.root, "windows/driver/io.h", "static inline " + function("VsHwStartIo", 120))
        self.assert_fails_with("windows/driver/io.h:1: function VsHwStartIo is 120 lines (limit 100)")

    def test_qualified_names_member_functions_and_tests(self):
        write(self.root, "src/iscsi/login.cpp", """\
namespace vstor::iscsi {
template <class T>
std::vector<std::pair<int, T>> Login::negotiate_keys(const Params& p) const noexcept
{
""" + "    x();\n" * 100 + """}
class Session {
public:
    explicit Session(int a, Options o = {}) : a_(a), b_{a, 2}, c_{} {
""" + "        x();\n" * 100 + """    }
private:
    int a_;
    std::vector<int> b_{1, 2};
};
}  // namespace vstor::iscsi
TEST_F(Login, Negotiates) {
""" + "    x();\n" * 100 + "}\n")
        rc, err, _ = self.check()
        self.assertEqual(rc, 1)
        lines = err.splitlines()
        self.assertIn("src/iscsi/login.cpp:3: function Login::negotiate_keys is 103 lines (limit 100)", lines)
        self.assertIn("src/iscsi/login.cpp:108: function Session is 102 lines (limit 100)", lines)
        self.assertIn("src/iscsi/login.cpp:215: function TEST_F(Login, Negotiates) is 102 lines (limit 100)", lines)

    def test_braces_in_comments_strings_and_literals_do_not_count(self):
        # Each line opens a brace that is not code: if any counted, `first` would swallow `second`
        # (and be over 100 lines), or the file would end inside a function.
        tricky = (
            '    const char* s = "{ not a block";\n'
            "    char c = '{';\n"
            "    char q = '\\'';  // an escaped quote, then { in a comment\n"
            '    const char* e = "\\" {";\n'
            "    /* { a block comment\n"
            "       spanning lines { */\n"
            '    auto raw = R"json({"a": {"b": 1}})json";\n'
            '    auto raw2 = R"(\n'
            "        { a raw string over lines\n"
            '    )";\n'
            "    int big = 1'000'000;  // a digit separator is not a quote: {\n"
            "#define OPEN {\n"
            "#if 0 // {\n"
            "#endif\n"
            "    auto l = u8'x';\n")
        write(self.root, "src/nbd/tricky.cpp",
              "int first(int x) {\n" + tricky + "    return x;\n}\n" + function("second", 95))
        rc, err, _ = self.check()
        self.assertEqual(rc, 0, err)
        # ... and a long function after them is still found, on the right line.
        write(self.root, "src/nbd/tricky.cpp",
              "int first(int x) {\n" + tricky + "    return x;\n}\n" + function("second", 101))
        self.assert_fails_with("src/nbd/tricky.cpp:19: function second is 101 lines (limit 100)")

    def test_lambdas_count_in_their_function(self):
        lam = "    auto f = [&](int y) {\n" + "        y += 1;\n" * 50 + "        return y;\n    };\n"
        write(self.root, "src/control/luns.cpp",
              "void add(int x) {\n" + lam + lam + "}\n" + function("after", 10))
        self.assert_fails_with("src/control/luns.cpp:1: function add is 108 lines (limit 100)")

    def test_namespace_scope_lambda_is_a_function(self):
        write(self.root, "src/control/reg.cpp", "namespace {\nconst auto handler = [](int x) {\n" +
              "    x++;\n" * 100 + "};\n}\n")
        self.assert_fails_with("src/control/reg.cpp:2: function handler is 102 lines (limit 100)")

    def test_data_tables_are_not_functions(self):
        write(self.root, "src/scsi/table.cpp", "const Entry kTable[] = {\n" + "    {1, {2, 3}},\n" * 150 +
              "};\nstruct S {\n" + "    int a;\n" * 150 + "};\nenum class E {\n" + "    e,\n" * 150 + "};\n")
        rc, err, _ = self.check()
        self.assertEqual(rc, 0, err)

    def test_allowed_list_and_stale_entries(self):
        write(self.root, "src/cli/run.cpp", function("run_serve", 101))
        write(self.root, "src/nbd/big.cpp", "int a;\n" * 501)
        allow = os.path.join(self.root, "allowed.txt")
        write(self.root, "allowed.txt", "# until split\nfunction src/cli/run.cpp run_serve\nfile src/nbd/big.cpp\n"
              "function src/cli/gone.cpp old\n")
        rc, err, stamped = self.check("--allow", allow)
        self.assertEqual(rc, 0, err)
        self.assertTrue(stamped)
        self.assertIn("allowed 'function src/cli/gone.cpp old' is no longer needed", err)


class RealTree(unittest.TestCase):
    def test_source_tree_keeps_its_limits(self):
        if not ARGS.root:
            self.skipTest("no --root given")
        r = subprocess.run([sys.executable, ARGS.checker, "--root", ARGS.root], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--checker", required=True)
    ap.add_argument("--root")
    ARGS, rest = ap.parse_known_args()
    unittest.main(argv=[sys.argv[0]] + rest)
