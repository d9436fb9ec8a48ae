# Position ids (include/attune/core/positions.hpp) and the adapters that evaluate masks and score
# modifiers on them (mask/positioned.hpp, score/positioned.hpp): one test binary,
# attune_positions_tests_<arch>; ctest runs positions.<arch>.positions.
# Built for the widest arch alone (BEST_ONLY): its arithmetic is the tile engine's, whose every SIMD
# path the kernel, batch and random suites test; what this suite adds is arch-independent.
# The two files share tests/positions_support.hpp and compile as one unit under ATTUNE_UNITY_TESTS.
attune_add_kernel_suite(positions
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/positioned_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/../score/positioned_test.cpp
  TAGS positions BEST_ONLY)
