# Thread safety (tests/stress/stress_test.cpp): concurrent calls from user threads equal serial
# calls bit for bit; one binary per arch, ctest stress.<arch>.stress.
attune_add_kernel_suite(stress SOURCES ${CMAKE_CURRENT_LIST_DIR}/stress_test.cpp TAGS stress)
