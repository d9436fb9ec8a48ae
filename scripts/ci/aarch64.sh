#!/usr/bin/env bash
# CI job "aarch64": a cross build with Debian's g++-aarch64-linux-gnu
# (cmake/toolchains/aarch64-linux-gnu.cmake; tests for the neon64 arch, warnings as errors) whose
# tests run under qemu-user (ctest's emulator), in build-aarch64/. Runs the core tests, the NEON
# kernel tests in full, every golden case and the other kernel suites (random, hostile, stress, …)
# with fewer random cases (ATTUNE_RANDOM_CASES, qemu is ~20× slower). The scalar path is the same
# C++ as on x86, where the g++ and clang jobs test it.
# Not run: the CMake consumer and compile tests (they run host commands), benchmarks, examples,
# the header self-containment test (compiler-independent, run by the g++ and clang jobs), and the
# suites that test validation rather than arithmetic (the hostile matrix, cache state, long rows:
# ATTUNE_TEST_SKIP_SUITES; the x86 jobs run them).
#   scripts/ci/aarch64.sh [extra ctest arguments]
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
attune_install_deps
ci_install g++-aarch64-linux-gnu qemu-user

dir="$root/build-aarch64"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DATTUNE_WERROR=ON \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_TEST_ARCHS=neon64 -DATTUNE_UNITY_TESTS=ON \
  "-DATTUNE_TEST_SKIP_SUITES=hostile_matrix;cache_state;long_rows"
cmake --build "$dir" -j "$jobs"
export ATTUNE_RANDOM_CASES="${ATTUNE_RANDOM_CASES:-300}"
ci_ctest aarch64 "$dir" -LE "cmake|compile|headers|long" "$@"
