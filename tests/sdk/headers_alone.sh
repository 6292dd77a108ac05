#!/usr/bin/env bash
# Every public header compiles on its own (it includes what it uses) and includes nothing but
# standard headers and other public headers: C++ headers as C++20, C headers as C11 and C++20.
#   headers_alone.sh INCLUDE-DIR CXX CC
set -euo pipefail
inc=${1:?include dir} cxx=${2:?C++ compiler} cc=${3:?C compiler}
flags=(-fsyntax-only -Wall -Wextra -Wpedantic -Werror -I "$inc")
n=0
for h in "$inc"/vstor/*.h "$inc"/vstor/*.hpp; do
  [ -e "$h" ] || continue
  name=vstor/$(basename "$h")
  if bad=$(grep -nE '^\s*#\s*include\s*"' "$h" | grep -vE '#\s*include\s*"vstor/[a-z0-9_]+\.hp?p?"'); then
    echo "FAIL: $name includes a header that is not public: $bad"; exit 1
  fi
  echo "#include <$name>" | "$cxx" -std=c++20 "${flags[@]}" -x c++ - || { echo "FAIL: $name alone (C++20)"; exit 1; }
  if [[ $h == *.h ]]; then
    echo "#include <$name>" | "$cc" -std=c11 "${flags[@]}" -x c - || { echo "FAIL: $name alone (C11)"; exit 1; }
  fi
  n=$((n + 1))
done
[ $n -ge 8 ] || { echo "FAIL: only $n public headers found in $inc/vstor"; exit 1; }
echo "OK: $n public headers compile alone"
