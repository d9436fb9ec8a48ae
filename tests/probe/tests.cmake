# Attention maps (include/attune/probe/attention_map.hpp, score/key_log_bias.hpp): one binary per
# vector arch, attune_maps_tests_<arch>, ctest maps.<arch>.maps. Per arch, not BEST_ONLY: the map
# pass's exp and the key bias's tile add are SIMD code of their own; not scalar (NO_SCALAR: its
# one-lane code is the engine's, which the kernel suite runs on scalar).
attune_add_kernel_suite(maps SOURCES ${CMAKE_CURRENT_LIST_DIR}/attention_map_test.cpp TAGS maps NO_SCALAR)
