# KV caches (include/attune/cache/): kv_cache, streaming_cache, h2o_cache, landmark_cache and
# duo_cache against the double reference over the matching mask or key set; one test binary per
# arch, attune_cache_tests_<arch>; ctest runs cache.<arch>.cache.
attune_add_kernel_suite(cache
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/cache_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/landmark_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/duo_cache_test.cpp
  TAGS cache)
