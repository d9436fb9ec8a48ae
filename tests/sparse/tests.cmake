# Sparse attention (include/attune/sparse/, mask/shifted_groups.hpp): one test binary per arch,
# attune_sparse_tests_<arch>; ctest runs sparse.<arch>.sparse. The caches built on these functions
# are tests/cache's suite.
attune_add_kernel_suite(sparse
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/sparse_test.cpp
  TAGS sparse)
