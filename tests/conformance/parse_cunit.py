#!/usr/bin/env python3
"""Per-test outcomes from iscsi-test-cu's verbose CUnit output.

A test's output runs from "  Test: NAME ..." to its "passed"/"FAILED" marker; a test whose output
says [SKIPPED] counts as skipped, not passed. Prints one "SUITE.TEST outcome" line per test."""
import re
import sys


def parse(text):
    results = []
    suite = None
    pos = 0
    # "[FAILED] ..." lines are a test's own log messages, not its result.
    token = re.compile(r"^Suite: (\S+)|^  Test: (.+?) \.\.\.|(?<!\[)\b(passed|FAILED)\b(?!\])", re.M)
    current = None
    start = 0
    for m in token.finditer(text):
        if m.group(1):
            suite = m.group(1)
        elif m.group(2):
            current = f"{suite}.{m.group(2).strip()}"
            start = m.end()
        elif current:
            body = text[start:m.start()]
            if m.group(3) == "FAILED":
                outcome = "failed"
            elif "[SKIPPED]" in body:
                outcome = "skipped"
            else:
                outcome = "passed"
            results.append((current, outcome))
            current = None
    return results


if __name__ == "__main__":
    for name, outcome in parse(open(sys.argv[1], errors="replace").read()):
        print(name, outcome)
