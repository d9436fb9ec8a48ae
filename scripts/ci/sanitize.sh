#!/usr/bin/env bash
# CI job "sanitize": clang 14 with AddressSanitizer + UndefinedBehaviorSanitizer (any report fails
# the test: -fno-sanitize-recover=all) and -Wall -Wextra -Werror, -O1, no debug info, in
# build-asan/ (UBSan's reports carry file:line without it, ASan's frames their function names;
# -g1 cost 12% of the compile time; `cmake --preset asan` keeps it for finding the line). Where
# compiling is the cost, not running, -O0: the benchmarks (compiled, not run here; their -O3 under
# ASan took 7 CPU-minutes), the examples and the LLM runner (run for seconds; at -O1 their compile
# took 511 CPU-seconds) and the suites of caches (quantized ones too), calibration, sparse kernels
# and validation, the hostile matrix included (ATTUNE_TEST_EXTRA_FLAGS_SUITES; the cache suite:
# 124 s to compile at -O1, 25 at -O0, then 39 s to run instead of 7; the hostile matrix: 46 s at
# -O0 against about 330 at -O1, then 14 s to run, once its nested calls were made small).
# Whatever runs the engine's arithmetic at length stays at -O1. One build serves two purposes:
# the second compiler (clang's warnings come from its front end, so -Werror holds at -O1 too) and
# the sanitizers: a g++ sanitizer job plus a separate clang job took 31 of CI's minutes, this one
# about 23 before the -O0 suites (measured on the 2-core CI
# machine; its first run also found UB and an overflow the g++ sanitizers had missed).
# Built: the library, the benchmarks (compiled, not run), the examples (run, under the sanitizers)
# and the tests for the widest arch this machine runs (ATTUNE_TEST_ARCHS=best, e.g. avx512) plus
# the arch-independent ones. Not run here (the g++ test job runs them all): the CMake consumers
# (they build attune again without sanitizers), the header self-containment and compile-only
# tests (compiler-independent or compile-only: minutes no sanitizer looks at), the 2^31-key
# long-row case and the long-rows suite (minutes of arithmetic under ASan on the driver's block
# merge, which the hostile and kernel suites exercise here at small sizes), the randomized
# differential suite (its kernels are the ones the other suites run here; the g++ and aarch64 jobs
# run it), the thread stress test (the tsan job's), the linear family's allocation count (its
# own operator new) and the dispatch test (its per-level units compile every built-in signature
# again: 3 CPU-minutes under ASan for the kernels this job's suites run; the g++ and aarch64 jobs
# run it).
#   scripts/ci/sanitize.sh [extra ctest arguments]
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
attune_install_deps
ci_install clang-14 libomp-14-dev
dir="$root/build-asan"
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DATTUNE_WERROR=ON -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1" -DCMAKE_CXX_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DATTUNE_TEST_ARCHS=best -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_OPTIMIZE=-O0 -DATTUNE_BUILD_EXAMPLES=ON -DATTUNE_EXAMPLES_OPTIMIZE=-O0 -DATTUNE_UNITY_TESTS=ON \
  -DATTUNE_BUILD_DISTRIBUTED=OFF \
  "-DATTUNE_TEST_SKIP_SUITES=random;long_rows;stress;linear_alloc;dispatch" \
  "-DATTUNE_TEST_EXTRA_FLAGS_SUITES=cache;calibration;sparse;cache_state;hostile;hostile_matrix;quant_caches" -DATTUNE_TEST_EXTRA_FLAGS=-O0
cmake --build "$dir" -j "$jobs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/scripts/ci/lsan.supp:print_suppressions=0}"
ci_ctest sanitize "$dir" -LE "cmake|headers|compile|long" "$@"
