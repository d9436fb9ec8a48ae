# The extension contract (attune/hooks.hpp, attune/testing.hpp).
#   attune_extension_tests   arch-independent: which hooks each built-in policy provides and that
#                            the engine detects them, policies that break a rule, the three-line
#                            mask through attention() against the reference (ctest `extension`)
#   compile_fail.<name>      a policy that breaks the contract must fail to compile with one error,
#                            the static_assert naming the hook (tests/extension/compile_fail.cpp)
add_executable(attune_extension_tests extension/hooks_test.cpp)
target_include_directories(attune_extension_tests PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(attune_extension_tests PRIVATE attune::attune attune_warnings Catch2::Catch2WithMain)
add_test(NAME extension COMMAND attune_extension_tests -w NoTests)
set_tests_properties(extension PROPERTIES LABELS extension ENVIRONMENT "${ATTUNE_TEST_ENV}")

# <case number>|<name>|<text the diagnostic must hold>
set(_attune_fail_cases
  "1|mask_without_visible|attune mask: a mask needs `bool visible(const attune::index_context&) const`"
  "2|mask_listed_keys_misspelt|attune mask: hook `keys` (listed in `hooks`, or a member of that name)"
  "3|mask_keys_not_const|attune mask: hook `keys` (listed in `hooks`, or a member of that name)"
  "4|mask_lists_router_hook|attune mask: `hooks` lists a hook that masks do not have"
  "5|mask_part_without_visible|attune mask: a mask needs `bool visible(const attune::index_context&) const`"
  "6|score_without_operator|attune score modifier: a score modifier needs `float operator()(float s, const attune::index_context&) const`"
  "7|score_prepare_without_lane_arrays|attune score modifier: hook `prepare`"
  "8|score_listed_apply_tile_misspelt|attune score modifier: hook `apply_tile`"
  "9|sink_float_only|attune sink: a sink needs `template <class T> void start("
  "10|router_without_gate|attune router: a router needs `float gate(const attune::row_context&) const`"
  "11|router_active_fraction_not_const|attune router: hook `active_fraction`"
  "12|family_without_update_tile|attune family: a family with row_statistics needs"
  "13|listed_validate_misspelt|attune policy: hook `validate` (listed in `hooks`)"
  "14|hooks_not_provides|attune policy: `hooks` must be attune::provides")
foreach(case IN LISTS _attune_fail_cases)
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 number)
  list(GET parts 1 name)
  list(GET parts 2 expect)
  add_library(attune_fail_${name} OBJECT EXCLUDE_FROM_ALL extension/compile_fail.cpp)
  target_link_libraries(attune_fail_${name} PRIVATE attune::attune attune_warnings)
  target_compile_definitions(attune_fail_${name} PRIVATE ATTUNE_FAIL_CASE=${number})
  target_compile_options(attune_fail_${name} PRIVATE -O0)  # only the diagnostics matter
  add_test(NAME compile_fail.${name}
    COMMAND "${CMAKE_COMMAND}" "-DBUILD_DIR=${CMAKE_BINARY_DIR}" "-DTARGET=attune_fail_${name}" "-DEXPECT=${expect}"
            -P "${CMAKE_CURRENT_SOURCE_DIR}/extension/compile_fail.cmake")
  set_tests_properties(compile_fail.${name} PROPERTIES LABELS compile)
endforeach()
unset(_attune_fail_cases)
