#!/usr/bin/env bash
# Runs every tests/fuzz/fuzz_*.cpp target for a bounded time; fails if a fuzzer finds a crash, leak
# or sanitizer error. Without --prebuilt it first builds them with clang-14 (libFuzzer + ASan +
# UBSan) in the given directory; with it, they are already built there (the ASan tree).
set -euo pipefail
src=${1:?source dir}
out=${2:?build dir}
seconds=${3:-20}
prebuilt=${4:-}

targets=$(cd "$src/tests/fuzz" && ls fuzz_*.cpp | sed 's/\.cpp$//')
if [ "$prebuilt" != --prebuilt ]; then
  cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
    -DVSTOR_FUZZ=ON -DVSTOR_WERROR=OFF -DVSTOR_SANITIZE=address \
    >/dev/null
  # shellcheck disable=SC2086
  cmake --build "$out" -j "$(nproc)" --target $targets
fi

status=0
for t in $targets; do
  corpus="$out/corpus/$t"
  mkdir -p "$corpus"
  # Seeds (tests/fuzz/seeds/TARGET.py writes them): where a bounded run would spend its time
  # finding the input's layout before reaching the code under test.
  if [ -f "$src/tests/fuzz/seeds/$t.py" ]; then python3 "$src/tests/fuzz/seeds/$t.py" "$corpus"; fi
  echo "== $t: ${seconds}s"
  if ! "$out/tests/fuzz/$t" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
        -rss_limit_mb=4096 -artifact_prefix="$out/$t-" -print_final_stats=1 "$corpus" >"$out/$t.log" 2>&1; then
    echo "FAIL: $t (log: $out/$t.log)"
    tail -40 "$out/$t.log"
    status=1
  else
    grep -E "stat::number_of_executed_units|Done" "$out/$t.log" | tail -2 || true
  fi
done
exit $status
