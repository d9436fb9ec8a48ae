# Randomized differential test (tests/random/random_test.cpp): random problems against the float64
# reference, one binary per arch; ctest runs random.<arch>.random. ATTUNE_RANDOM_SEED,
# ATTUNE_RANDOM_CASES and ATTUNE_RANDOM_CASE (environment) change the run.
attune_add_kernel_suite(random SOURCES ${CMAKE_CURRENT_LIST_DIR}/random_test.cpp TAGS random)
