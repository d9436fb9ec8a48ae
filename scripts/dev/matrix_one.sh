#!/usr/bin/env bash
# Builds and runs the hostile matrix from chosen case files alone, under ASan + UBSan, without CMake:
# quick checks while writing cases (CI runs the whole matrix through ctest).
#   scripts/dev/matrix_one.sh tests/hostile/matrix_core.cpp [more files…]   (binary in /tmp)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${ATTUNE_MATRIX_BIN:-/tmp/attune_matrix_$$}"
flags=(-std=c++17 -O1 -g -fopenmp -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
       -Wall -Wextra -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mamx-tile -mamx-bf16
       "-DATTUNE_TEST_ARCH=xsimd::avx512bw" "-DATTUNE_TEST_ARCH_NAME=\"avx512\""
       -I"$root/include" -I"$root/tests" -I/usr/include/eigen3)
g++ "${flags[@]}" "$root/tests/hostile/matrix_test.cpp" "$@" /usr/lib/libCatch2WithMain.a -o "$out"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 "$out" -w NoTests
