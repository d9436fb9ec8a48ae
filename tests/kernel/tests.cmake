# Ragged and paged batches (attune/batch.hpp, kernel/batch_driver.hpp, the paged K/V source): one
# binary per vector arch, attune_batch_tests_<arch>; ctest runs batch.<arch>.batch (scalar: the
# kernel suite runs the engine's one-lane code).
attune_add_kernel_suite(batch SOURCES ${CMAKE_CURRENT_LIST_DIR}/batch_test.cpp TAGS batch NO_SCALAR)
