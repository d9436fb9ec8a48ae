#!/usr/bin/env bash
# CI job "tsan": ThreadSanitizer over the thread-safety stress test (tests/stress) and the executor
# tests, g++ -fsanitize=thread -O1 -g1, widest arch only, in build-tsan/. OpenMP is off in this build
# (libgomp is not instrumented, so TSan would report its internals): openmp_executor then runs
# serially, and the concurrency comes from the user threads and the user thread pools.
#   scripts/ci/tsan.sh [extra ctest arguments]
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
attune_install_deps

dir="$root/build-tsan"
cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DATTUNE_WERROR=ON \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" -DATTUNE_USE_OPENMP=OFF \
  -DATTUNE_TEST_ARCHS=best -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_UNITY_TESTS=ON -DATTUNE_BUILD_DISTRIBUTED=OFF
targets=(attune_tests)
while IFS= read -r t; do targets+=("$t"); done < <(cd "$dir" && cmake --build . --target help | sed -n 's/^\.\.\. \(attune_stress_tests_[a-z0-9]*\).*/\1/p')
cmake --build "$dir" -j "$jobs" --target "${targets[@]}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
ci_ctest tsan "$dir" -L "stress|core" "$@"
