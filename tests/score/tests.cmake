# RCMHA (tests/score/relative_xl_test.cpp): Transformer-XL relative attention (score/relative_xl.hpp)
# and the depth-wise convolution pre-pass (prepass/depthwise_conv.hpp) against float64 formulas;
# attune_relative_xl_tests_<arch>, ctest relative_xl.<arch>.relative_xl. Every vector arch: the modifier's
# tile hook (a GEMM and a lane-wise gather) is SIMD code of its own (scalar: the kernel suite's
# Music Transformer tests run the same distance table on one lane). A binary of its own so that a
# change here does not recompile the kernel suite's unity unit (minutes per arch).
attune_add_kernel_suite(relative_xl SOURCES ${CMAKE_CURRENT_LIST_DIR}/relative_xl_test.cpp TAGS relative_xl NO_SCALAR)
