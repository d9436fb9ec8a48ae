# Sparse attention and KV caches (include/attune/cache/, include/attune/sparse/,
# mask/shifted_groups.hpp): one test binary per arch, attune_sparse_tests_<arch>;
# ctest runs sparse.<arch>.sparse.
attune_add_kernel_suite(sparse
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/cache_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/sparse_test.cpp
  TAGS sparse)
