# Thread safety (tests/stress/stress_test.cpp): concurrent calls from user threads equal serial
# calls bit for bit; one binary, ctest stress.<arch>.stress.
# Built for the widest arch alone (BEST_ONLY): its arithmetic is the tile engine's, whose every SIMD
# path the kernel, batch and random suites test; what this suite adds is arch-independent.
attune_add_kernel_suite(stress SOURCES ${CMAKE_CURRENT_LIST_DIR}/stress_test.cpp TAGS stress BEST_ONLY)
