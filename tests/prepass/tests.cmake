# RoPE (tests/prepass/rope_test.cpp): attune_rope_tests_<arch>, ctest rope.<arch>.rope. The suite
# reads the transformers fixtures of tests/prepass/rope_fixtures (written by make_rope_fixtures.py)
# from the directory baked in below.
attune_add_kernel_suite(rope SOURCES ${CMAKE_CURRENT_LIST_DIR}/rope_test.cpp TAGS rope)
foreach(arch IN LISTS ATTUNE_ARCHS)
  if(TARGET attune_rope_tests_${arch})
    target_compile_definitions(attune_rope_tests_${arch} PRIVATE "ATTUNE_ROPE_FIXTURE_DIR=\"${CMAKE_CURRENT_LIST_DIR}/rope_fixtures\"")
  endif()
endforeach()
