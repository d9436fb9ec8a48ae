# Probes and sink calibration (include/attune/probe/, include/attune/calibration/,
# mask/key_span.hpp): one test binary, attune_calibration_tests_<arch>;
# ctest runs calibration.<arch>.calibration and calibration.<arch>.probe (tests/probe: the
# retrieval-head probe).
# Built for the widest arch alone (BEST_ONLY): its arithmetic is the tile engine's, whose every SIMD
# path the kernel, batch and random suites test; what this suite adds is arch-independent.
attune_add_kernel_suite(calibration
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/calibration_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/../probe/retrieval_probe_test.cpp
  TAGS calibration probe BEST_ONLY)
