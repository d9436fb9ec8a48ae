# Runtime dispatch (include/attune/simd/dispatch.hpp, cmake/dispatch.cmake): one binary built
# without arch flags, the avx2 and avx512 units added by attune_dispatch(), runs every level this
# CPU has (pinned in turn) against the float64 reference, and the widest unpinned. ATTUNE_ARCH is
# read once per process, so its cases run in processes of their own. ATTUNE_TEST_SKIP_SUITES may
# leave it out (the sanitize job: its units compile the built-in signatures once more per level,
# minutes under ASan, for kernels the widest-arch suites already run there).
if("dispatch" IN_LIST ATTUNE_TEST_SKIP_SUITES)
  return()
endif()
add_executable(attune_dispatch_test ${CMAKE_CURRENT_LIST_DIR}/dispatch_test.cpp)
target_include_directories(attune_dispatch_test PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
target_link_libraries(attune_dispatch_test PRIVATE attune::attune attune_warnings Catch2::Catch2WithMain)
if("dispatch" IN_LIST ATTUNE_TEST_EXTRA_FLAGS_SUITES)  # the per-level units inherit them
  separate_arguments(_dispatch_extra UNIX_COMMAND "${ATTUNE_TEST_EXTRA_FLAGS}")
  target_compile_options(attune_dispatch_test PRIVATE ${_dispatch_extra})
endif()
attune_dispatch(attune_dispatch_test)
add_test(NAME dispatch COMMAND attune_dispatch_test -w NoTests "~[env]")
set_tests_properties(dispatch PROPERTIES LABELS dispatch ENVIRONMENT "${ATTUNE_TEST_ENV}")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(_dispatch_env sse2 sse2 scalar scalar bogus error avx9 error)
else()
  set(_dispatch_env neon neon scalar scalar avx2 error)
endif()
while(_dispatch_env)
  list(POP_FRONT _dispatch_env _arch _expect)
  add_test(NAME dispatch.env.${_arch} COMMAND attune_dispatch_test "[env]")
  set_tests_properties(dispatch.env.${_arch} PROPERTIES LABELS dispatch ENVIRONMENT "${ATTUNE_TEST_ENV};ATTUNE_ARCH=${_arch};ATTUNE_EXPECT=${_expect}")
endwhile()
