# Quantized K/V (attune/quantized.hpp, quant/, kernel/quant_*.hpp, cache/quant_kv_cache.hpp): one
# binary per arch but scalar (the sse2 build runs the formats' scalar loads already),
# attune_quant_tests_<arch>; ctest runs quant.<arch>.quant.
attune_add_kernel_suite(quant SOURCES ${CMAKE_CURRENT_LIST_DIR}/quant_attention_test.cpp TAGS quant NO_SCALAR)
