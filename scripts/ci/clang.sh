#!/usr/bin/env bash
# CI job "clang": the library, benchmarks, examples and the tests of the widest arch this CPU runs
# (the g++ job covers every arch; scalar was dropped here for CI time) built with clang 14 and -Wall -Wextra
# -Werror, at -O2 (the g++ job builds -O3: two optimisation levels, and ~20% less compile time
# here), then every ctest test but the header self-containment check (a compile-only test whose
# outcome does not depend on the compiler — both use libstdc++; the g++ job runs it), in
# build-clang/. The hostile matrix and the long rows (validation and the driver's block merge, no
# compiler-specific arithmetic; five and one large units) are left to the g++ and sanitizer jobs.
# The benchmarks are built here only (the g++ test job leaves them out: CI time).
#   scripts/ci/clang.sh [extra ctest arguments]
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
attune_install_deps
ci_install clang-14 libomp-14-dev

dir="$root/build-clang"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DATTUNE_WERROR=ON \
  -DCMAKE_CXX_COMPILER=clang++-14 -DATTUNE_TEST_ARCHS=best -DATTUNE_UNITY_TESTS=ON \
  "-DATTUNE_TEST_SKIP_SUITES=hostile_matrix;long_rows"
cmake --build "$dir" -j "$jobs"
ci_ctest clang "$dir" -LE headers "$@"
