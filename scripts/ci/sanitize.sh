#!/usr/bin/env bash
# CI job "sanitize": g++ with AddressSanitizer + UndefinedBehaviorSanitizer (any report fails the
# test: -fno-sanitize-recover=all), -O1 -g1 (line tables only: reports keep file:line, and the
# build takes a third less time than with -g), in build-asan/. Tests are built for the widest arch
# this machine runs (ATTUNE_TEST_ARCHS=best, e.g. avx512) plus the arch-independent ones; every
# ctest test runs but the CMake consumers (which build attune again without sanitizers) and the
# header self-containment check (a compile-only test, ~3 min of compiling that no sanitizer looks
# at; the g++ and clang jobs run it), and the 2^31-key long-row case (label `long`: minutes of
# arithmetic under ASan; the g++ and clang jobs run it), the examples and the compile-only tests
# (minutes of -O1 compiling for code the suites already run; the g++ and clang jobs run them), nor
# the randomized differential suite (its kernels are the ones the other suites run here; the g++,
# clang and aarch64 jobs run it), nor the long rows (minutes of arithmetic under ASan on the driver's
# block merge, which the hostile and kernel suites exercise here at small sizes), nor the thread
# stress test (the tsan job's) and the linear family's allocation count (its own operator new).
# Warnings are not errors here: at -O1 GCC 12 reports false positives the optimised builds do not
# (-Wmismatched-new-delete on the replaced operator new/delete of tests/kernel/decode_alloc_test.cpp);
# the g++ (scripts/test.sh) and clang jobs hold the -Werror line.
#   scripts/ci/sanitize.sh [extra ctest arguments]
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
attune_install_deps

dir="$root/build-asan"
san="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DATTUNE_WERROR=OFF \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DCMAKE_CXX_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DATTUNE_TEST_ARCHS=best -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_UNITY_TESTS=ON \
  "-DATTUNE_TEST_SKIP_SUITES=random;long_rows;stress;linear_alloc"
cmake --build "$dir" -j "$jobs"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
ci_ctest sanitize "$dir" -LE "cmake|headers|compile|long" "$@"
