#!/usr/bin/env bash
# CI job "aarch64": a cross build with Debian's g++-aarch64-linux-gnu
# (cmake/toolchains/aarch64-linux-gnu.cmake; tests for the neon64 arch, warnings as errors) whose
# tests run under qemu-user (ctest's emulator), in build-aarch64/. Runs the core tests and every
# suite with NEON code of its own: the kernel and batch suites (the tile engine, dense and paged),
# the linear family, RoPE, every golden case and the randomized differential suite with fewer
# cases (ATTUNE_RANDOM_CASES, qemu is ~20× slower). The scalar path is the same C++ as on x86,
# where the g++ job tests it. Built at -O1, as the x86 job builds its narrower archs: the NEON code
# is intrinsics, which -O1 compiles as -O2 does, in two thirds of the time.
# Not run: the CMake consumer and compile tests (they run host commands), benchmarks, examples,
# the header self-containment test (compiler-independent, run by the g++ job), the
# suites that test validation rather than arithmetic (the hostile suites, cache state, long rows)
# and those that run the engine's arithmetic through policies, caches and sparse selections
# (policies, cache, paged cache, quantized caches, positions, calibration, sparse, stress, linear
# allocations): their NEON code is the engine's, tested here by the kernel and batch suites (and
# every policy family by the randomized suite); the x86 jobs run them all (ATTUNE_TEST_SKIP_SUITES).
#   scripts/ci/aarch64.sh [extra ctest arguments]
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
attune_install_deps
ci_install g++-aarch64-linux-gnu qemu-user

dir="$root/build-aarch64"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" -DATTUNE_WERROR=ON \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/aarch64-linux-gnu.cmake" \
  -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_TEST_ARCHS=neon64 -DATTUNE_UNITY_TESTS=ON -DATTUNE_BUILD_DISTRIBUTED=OFF \
  "-DATTUNE_TEST_SKIP_SUITES=hostile;hostile_matrix;cache_state;long_rows;cache;paged_cache;positions;calibration;sparse;stress;linear_alloc;quant_caches;policies"
cmake --build "$dir" -j "$jobs"
export ATTUNE_RANDOM_CASES="${ATTUNE_RANDOM_CASES:-300}"
ci_ctest aarch64 "$dir" -LE "cmake|compile|headers|long" "$@"
