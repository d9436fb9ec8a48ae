# KV caches (include/attune/cache/): kv_cache, streaming_cache, h2o_cache, landmark_cache and
# duo_cache against the double reference over the matching mask or key set; one test binary,
# attune_cache_tests_<arch>; ctest runs cache.<arch>.cache.
# Built for the widest arch alone (BEST_ONLY): its arithmetic is the tile engine's, whose every SIMD
# path the kernel, batch and random suites test; what this suite adds is arch-independent.
attune_add_kernel_suite(cache
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/cache_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/landmark_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/landmark_attention_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/duo_cache_test.cpp
  TAGS cache BEST_ONLY)

# Paged KV cache (include/attune/cache/paged_kv_cache.hpp): page allocation, forks with
# copy-on-write and frees against a model of every sequence's tokens, and the page-table checks.
# Bookkeeping only (no SIMD arithmetic): built for the widest arch alone; ctest runs
# paged_cache.<arch>.paged_cache.
attune_add_kernel_suite(paged_cache SOURCES ${CMAKE_CURRENT_LIST_DIR}/paged_kv_cache_test.cpp TAGS paged_cache BEST_ONLY)
