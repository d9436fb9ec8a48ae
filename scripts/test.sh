#!/usr/bin/env bash
# Builds attune with warnings as errors and runs every test (unit, golden, cmake consumers); the
# benchmarks are not built (the CI sanitize job compiles them; cmake -DATTUNE_BUILD_BENCH=ON does here).
# On a fresh Debian 12 machine it first installs the packages it needs. Tests build at -O2 (what
# distributions build with; -O3, CMake's Release default, took about 1.5× the compile time on the
# kernel suite, measured side by side); the aarch64 job builds at -O3.
#   scripts/test.sh            (from anywhere; the build goes to <repo>/build)
#   extra ctest arguments pass through, e.g. scripts/test.sh -L golden
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=deps.sh
. "$root/scripts/deps.sh"
attune_install_deps

jobs="$(attune_jobs)"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DATTUNE_WERROR=ON -DATTUNE_UNITY_TESTS=ON -DATTUNE_BUILD_BENCH=OFF
cmake --build "$root/build" -j "$jobs"

log="$root/build/ctest.log"
set +e
ctest --test-dir "$root/build" --output-on-failure -j "$jobs" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary="$(grep -E 'tests passed|No tests were found' "$log" | tail -n 1 || true)"
echo
echo "attune tests: ${summary:-ctest printed no summary line}"
exit "$status"
