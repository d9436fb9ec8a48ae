# Ragged and paged batches (attune/batch.hpp, kernel/batch_driver.hpp, the paged K/V source): one
# binary per arch, attune_batch_tests_<arch>; ctest runs batch.<arch>.batch.
attune_add_kernel_suite(batch SOURCES ${CMAKE_CURRENT_LIST_DIR}/batch_test.cpp TAGS batch)
