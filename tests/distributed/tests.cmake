# attune::distributed (include/attune/distributed/), only when it is built (MPI found): one binary,
# attune_distributed_tests (plain main), run under mpiexec with 2, 3 and 4 processes as ctest
# distributed.np2 / np3 / np4 (label distributed). Each compares every rank's rows with
# single-process attention and a float64 reference, and checks that bad input on one rank makes
# every rank throw. mpiexec's extra flags and environment: cmake/distributed.cmake.
if(TARGET attune_distributed)
  add_executable(attune_distributed_tests ${CMAKE_CURRENT_LIST_DIR}/distributed_test.cpp)
  target_link_libraries(attune_distributed_tests PRIVATE attune::distributed attune_warnings)
  # The widest arch this machine runs: the SIMD paths are the engine's, tested by its own suites.
  if(ATTUNE_RUNNABLE_ARCHS)
    list(GET ATTUNE_RUNNABLE_ARCHS -1 _attune_mpi_arch)
    target_compile_options(attune_distributed_tests PRIVATE ${ATTUNE_ARCH_FLAGS_${_attune_mpi_arch}})
    unset(_attune_mpi_arch)
  endif()
  foreach(np 2 3 4)
    add_test(NAME distributed.np${np}
      COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} ${ATTUNE_MPIEXEC_EXTRA} ${MPIEXEC_PREFLAGS}
              $<TARGET_FILE:attune_distributed_tests> ${MPIEXEC_POSTFLAGS})
    set_tests_properties(distributed.np${np} PROPERTIES LABELS distributed ENVIRONMENT "${ATTUNE_MPI_TEST_ENV}" TIMEOUT 120)
  endforeach()
endif()
