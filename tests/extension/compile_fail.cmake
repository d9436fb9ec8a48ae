# cmake -DBUILD_DIR=… -DTARGET=… -DEXPECT=… -P compile_fail.cmake: builds TARGET (an object
# library of tests/extension/compile_fail.cpp) and passes when the build fails with exactly one
# compiler error whose text holds EXPECT: the static_assert naming the hook, and no cascade after it.
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
set(log "${out}${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "${TARGET} compiled, but it must fail with: ${EXPECT}")
endif()
string(FIND "${log}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${TARGET} failed without the expected diagnostic \"${EXPECT}\":\n${log}")
endif()
string(REGEX MATCHALL "error:" errors "${log}")
list(LENGTH errors count)
if(NOT count EQUAL 1)
  message(FATAL_ERROR "${TARGET}: ${count} compiler errors, expected the one static_assert:\n${log}")
endif()
message(STATUS "${TARGET}: one error, \"${EXPECT}\"")
