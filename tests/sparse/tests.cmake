# Sparse attention (include/attune/sparse/, mask/shifted_groups.hpp): one test binary,
# attune_sparse_tests_<arch>; ctest runs sparse.<arch>.sparse. The caches built on these functions
# are tests/cache's suite.
# Built for the widest arch alone (BEST_ONLY): its arithmetic is the tile engine's, whose every SIMD
# path the kernel, batch and random suites test; what this suite adds is arch-independent.
attune_add_kernel_suite(sparse
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/sparse_test.cpp
  TAGS sparse BEST_ONLY)
