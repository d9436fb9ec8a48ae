# Randomized differential test (tests/random/): random problems against the float64 references, one
# binary per arch; ctest runs random.<arch>.random. ATTUNE_RANDOM_SEED, ATTUNE_RANDOM_CASES and
# ATTUNE_RANDOM_CASE (environment) change the run. The variants are spread over several sources
# (random.hpp) so the build compiles them in parallel. For the narrowest and the widest vector arch
# (EDGE_ARCHS: sse2's 4 lanes and avx512's 16 here): the kernel, batch and linear suites run every
# arch, scalar's one lane included; the random suite's cost is its breadth of policies (about 3
# CPU-minutes of compiling per arch, so CI keeps the two ends).
attune_add_kernel_suite(random
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/random_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/random_masks.cpp
    ${CMAKE_CURRENT_LIST_DIR}/random_routers.cpp
    ${CMAKE_CURRENT_LIST_DIR}/random_linear.cpp
  TAGS random
  NO_UNITY EDGE_ARCHS)
# Among the longest tests: ctest starts them first (COST orders a fresh build's tests, which has no
# timing data yet), so none is left running alone at the end of a `ctest -j`.
foreach(arch IN LISTS ATTUNE_RUNNABLE_ARCHS)
  if(TEST random.${arch}.random)
    set_tests_properties(random.${arch}.random PROPERTIES COST 100)
  endif()
endforeach()
