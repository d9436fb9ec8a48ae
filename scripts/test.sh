#!/usr/bin/env bash
# Builds attune with warnings as errors and runs every test (unit, golden, cmake consumers); the
# benchmarks are not built (the CI sanitize job compiles them; cmake -DATTUNE_BUILD_BENCH=ON does here).
# On a fresh Debian 12 machine it first installs the packages it needs. Tests build at -O2 (what
# distributions build with; -O3, CMake's Release default, took about 1.5× the compile time on the
# kernel suite, measured side by side) for the widest arch this machine runs, and at -O1 for the
# narrower ones (ATTUNE_TEST_NARROW_FLAGS: they are there for their lane counts and instructions;
# two thirds of the compile time) and for the suites that test logic over the engine rather than
# its arithmetic — the caches, calibration, positions, sparse selections, validation, the dispatch
# table (ATTUNE_TEST_EXTRA_FLAGS_SUITES; the kernel, policy, quant, batch and randomized suites run
# that arithmetic at -O2); the examples at -O0 (they run for seconds; the sanitize job builds them
# with clang too). The aarch64 job builds at -O1 too (its NEON code is intrinsics).
#   scripts/test.sh            (from anywhere; the build goes to <repo>/build)
#   extra ctest arguments pass through, e.g. scripts/test.sh -L golden
#
# scripts/test.sh --quick: a newcomer's check in a few minutes (the `quick` preset of
# CMakePresets.json, in <repo>/build-quick): the widest arch the CPU runs only; the golden cases
# (PyTorch float64 outputs, from a binary of the golden sources alone: the kernel and linear suites,
# minutes of compiling, are left out), one batch of 500 randomized cases against the float64
# references (tests/random: every policy family, odd sizes) and the examples, each checking its
# own result. It builds only those (the target attune_quick_tests); the full run above is CI's.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=0
if [ "${1:-}" = "--quick" ]; then
  quick=1
  shift
fi
# shellcheck source=deps.sh
. "$root/scripts/deps.sh"
attune_install_deps

jobs="$(attune_jobs)"
if [ "$quick" -eq 1 ]; then
  build="$root/build-quick"
  cd "$root"  # presets are read from the current directory
  cmake --preset quick
  cmake --build --preset quick -j "$jobs"
  test_cmd=(ctest --preset quick -j "$jobs")
else
  build="$root/build"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DATTUNE_WERROR=ON -DATTUNE_UNITY_TESTS=ON -DATTUNE_BUILD_BENCH=OFF \
    -DATTUNE_TEST_NARROW_FLAGS=-O1 -DATTUNE_EXAMPLES_OPTIMIZE=-O0 -DATTUNE_TEST_EXTRA_FLAGS=-O1 \
    "-DATTUNE_TEST_EXTRA_FLAGS_SUITES=cache;paged_cache;quant_caches;calibration;positions;sparse;hostile;hostile_matrix;cache_state;dispatch"
  cmake --build "$build" -j "$jobs"
  test_cmd=(ctest --test-dir "$build" --output-on-failure -j "$jobs")
fi

log="$build/ctest.log"
set +e
"${test_cmd[@]}" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
summary="$(grep -E 'tests passed|No tests were found' "$log" | tail -n 1 || true)"
echo
# The randomized test's count line(s): "random [avx512]: 500 cases, 0 failed, …".
grep -hE '^random \[[a-z0-9]+\]: [0-9]+ cases, ' "$build/Testing/Temporary/LastTest.log" 2>/dev/null | sed 's/; cases per variant:.*//' || true
echo "attune tests: ${summary:-ctest printed no summary line}"
exit "$status"
