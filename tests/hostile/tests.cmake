# Hostile inputs (tests/hostile/hostile_test.cpp): NaN/inf, huge scores, lengths 0 and 1, aliasing,
# bad head counts, null data, negative strides; one binary, ctest hostile.<arch>.hostile.
# Built for the widest arch alone (BEST_ONLY): its arithmetic is the tile engine's, whose every SIMD
# path the kernel, batch and random suites test; what this suite adds is arch-independent.
attune_add_kernel_suite(hostile SOURCES ${CMAKE_CURRENT_LIST_DIR}/hostile_test.cpp TAGS hostile BEST_ONLY)
# The hostile-input matrix over the whole public API (tests/hostile/matrix.hpp): one binary for the
# widest arch, ctest hostile_matrix.<arch>.hostile_matrix; its files register their cases. One
# translation unit under ATTUNE_UNITY_TESTS: its files share most of their kernel instantiations
# (121 s to compile as one at -O2 here, 169 s as five).
file(GLOB ATTUNE_HOSTILE_MATRIX_FILES CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/matrix_*.cpp)
attune_add_kernel_suite(hostile_matrix SOURCES ${ATTUNE_HOSTILE_MATRIX_FILES} TAGS hostile_matrix BEST_ONLY)
attune_add_kernel_suite(cache_state SOURCES ${CMAKE_CURRENT_LIST_DIR}/cache_state_test.cpp TAGS cache_state BEST_ONLY)
