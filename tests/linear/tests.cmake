# The linear-attention family (include/attune/linear/): one test binary per arch,
# attune_linear_tests_<arch>; ctest runs linear.<arch>.<tag> and golden.<arch>.linear_elu_*.
attune_add_kernel_suite(linear
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/linear_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/variants_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/flow_authors_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/golden_linear_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/titans_test.cpp
  TAGS linear decode inline flow gated_delta aaren titans errors
  GOLDEN linear_elu_noncausal linear_elu_causal)

# Recurrent steps allocate nothing after warm-up: replaces the global operator new, so its own binary.
# Built for the widest arch alone (BEST_ONLY): its arithmetic is the tile engine's, whose every SIMD
# path the kernel, batch and random suites test; what this suite adds is arch-independent.
attune_add_kernel_suite(linear_alloc
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/decode_alloc_test.cpp
  TAGS alloc BEST_ONLY)
