# Hostile inputs (tests/hostile/hostile_test.cpp): NaN/inf, huge scores, lengths 0 and 1, aliasing,
# bad head counts, null data, negative strides; one binary per arch, ctest hostile.<arch>.hostile.
attune_add_kernel_suite(hostile SOURCES ${CMAKE_CURRENT_LIST_DIR}/hostile_test.cpp TAGS hostile)
