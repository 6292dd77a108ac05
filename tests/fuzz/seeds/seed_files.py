"""What every seeds script here does with its seeds: writes each as CORPUS_DIR/seed-NAME.bin, the
corpus directory being the script's one argument (tests/fuzz/run-fuzzers.sh)."""
import os
import sys


def write(seeds):
    """seeds: (name, bytes) pairs."""
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, data in seeds:
        with open(os.path.join(out, f"seed-{name}.bin"), "wb") as f:
            f.write(data)
