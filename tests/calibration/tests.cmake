# Probes and sink calibration (include/attune/probe/, include/attune/calibration/,
# mask/key_span.hpp): one test binary per arch, attune_calibration_tests_<arch>;
# ctest runs calibration.<arch>.calibration and calibration.<arch>.probe (tests/probe: the
# retrieval-head probe).
attune_add_kernel_suite(calibration
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/calibration_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/../probe/retrieval_probe_test.cpp
  TAGS calibration probe)
