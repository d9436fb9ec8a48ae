# Quantized K/V (attune/quantized.hpp, quant/, kernel/quant_*.hpp, cache/quant_kv_cache.hpp), in two
# binaries per arch set:
#   attune_quant_tests_<arch>, every arch but scalar (the sse2 build runs the formats' scalar loads
#     already): the formats' SIMD code, their loads in the kernels and their quantize_row, checked
#     against the scalar arch's (encode_test.cpp); ctest quant.<arch>.quant.
#   attune_quant_caches_tests_<arch>, the widest arch (BEST_ONLY): what sits on those kernels and is
#     the same C++ on every arch: the caches and the sparse gather over formats, and the options
#     int8_query / int8_pv where the compiler has no VNNI (the float path, checked to be taken);
#     ctest quant_caches.<arch>.quant_caches, .int8_query and .int8_pv. (Measured here: these
#     four files compile in 107 s at -O2; sse2's quant binary of all six took 143 s, of the two
#     at -O1 36 s.)
attune_add_kernel_suite(quant SOURCES ${CMAKE_CURRENT_LIST_DIR}/quant_attention_test.cpp ${CMAKE_CURRENT_LIST_DIR}/encode_test.cpp
  TAGS quant NO_SCALAR)
attune_add_kernel_suite(quant_caches SOURCES ${CMAKE_CURRENT_LIST_DIR}/quant_caches_test.cpp ${CMAKE_CURRENT_LIST_DIR}/quant_landmark_test.cpp
  ${CMAKE_CURRENT_LIST_DIR}/int8_query_test.cpp ${CMAKE_CURRENT_LIST_DIR}/int8_pv_test.cpp TAGS quant_caches int8_query int8_pv BEST_ONLY)

# options::int8_qk (kernel/int8_score_stage.hpp): one binary per arch, scalar included — the option
# must give the same recipe on every arch (the portable integer loops where VNNI and AMX are absent);
# attune_int8_qk_tests_<arch>, ctest int8_qk.<arch>.int8_qk.
attune_add_kernel_suite(int8_qk SOURCES ${CMAKE_CURRENT_LIST_DIR}/int8_qk_test.cpp TAGS int8_qk)

# options::int8_query's and options::int8_pv's integer kernels exist only where the compiler targets
# AVX-512 VNNI: one more binary of their tests and of options::int8_qk's with those flags,
# attune_quant_vnni_tests, run (quant.avx512vnni.int8_query, .int8_pv, .int8_qk) where the CPU has VNNI.
if("avx512" IN_LIST ATTUNE_RUNNABLE_ARCHS AND NOT "quant" IN_LIST ATTUNE_TEST_SKIP_SUITES)
  set(vnni_probe "${CMAKE_BINARY_DIR}/vnni_probe.cpp")
  file(WRITE "${vnni_probe}" "int main() { return __builtin_cpu_supports(\"avx512vnni\") ? 0 : 1; }\n")
  try_run(vnni_run vnni_compiled "${CMAKE_BINARY_DIR}/vnni_probe" "${vnni_probe}" COMPILE_DEFINITIONS -mavx512vnni)
  if(vnni_compiled AND vnni_run EQUAL 0)
    add_executable(attune_quant_vnni_tests ${CMAKE_CURRENT_LIST_DIR}/int8_query_test.cpp ${CMAKE_CURRENT_LIST_DIR}/int8_pv_test.cpp
      ${CMAKE_CURRENT_LIST_DIR}/int8_qk_test.cpp)
    target_include_directories(attune_quant_vnni_tests PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(attune_quant_vnni_tests PRIVATE attune::attune attune_warnings Catch2::Catch2WithMain)
    attune_unity_test(attune_quant_vnni_tests)
    target_compile_options(attune_quant_vnni_tests PRIVATE ${ATTUNE_ARCH_FLAGS_avx512} -mavx512vnni)
    target_compile_definitions(attune_quant_vnni_tests PRIVATE "ATTUNE_TEST_ARCH=${ATTUNE_ARCH_TYPE_avx512}"
      "ATTUNE_GOLDEN_DEFAULT_DIR=\"${ATTUNE_GOLDEN_DEFAULT_DIR}\"")
    foreach(tag int8_query int8_pv int8_qk)
      add_test(NAME quant.avx512vnni.${tag} COMMAND attune_quant_vnni_tests -w NoTests "[${tag}]")
      set_tests_properties(quant.avx512vnni.${tag} PROPERTIES LABELS "quant;avx512" ENVIRONMENT "${ATTUNE_TEST_ENV}")
    endforeach()
  endif()
endif()
