# Probes and sink calibration (include/attune/probe/, include/attune/calibration/,
# mask/key_span.hpp): one test binary per arch, attune_calibration_tests_<arch>;
# ctest runs calibration.<arch>.calibration.
attune_add_kernel_suite(calibration
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/calibration_test.cpp
  TAGS calibration)
