#!/usr/bin/env python3
"""Merge per-configuration outcomes ("CONFIG TEST outcome" lines) into one line per test."""
import sys

rank = {"failed": 2, "passed": 1, "skipped": 0}
best = {}
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) != 3:
        continue
    _, test, outcome = parts
    if test not in best or rank[outcome] > rank[best[test]]:
        best[test] = outcome
for test in sorted(best):
    print(test, best[test])
