# attune::distributed (include/attune/distributed/): context-parallel attention and sharded decode
# over MPI. Optional: the core stays MPI-free; on by default when MPI's C++ support is found.
# Sets, for the tests and the example that run under mpiexec:
#   ATTUNE_MPIEXEC_EXTRA   --oversubscribe with Open MPI (more ranks than cores, as on CI)
#   ATTUNE_MPI_TEST_ENV    one OpenMP thread per rank (the ranks share the cores) and Open MPI's two
#                          variables that let it run as root (CI's containers); other MPIs ignore them
find_package(MPI COMPONENTS CXX QUIET)
include(CMakeDependentOption)
cmake_dependent_option(ATTUNE_BUILD_DISTRIBUTED "Provide attune::distributed (MPI) and build its tests, example and bench" ON
  "MPI_CXX_FOUND" OFF)
if(ATTUNE_BUILD_DISTRIBUTED)
  add_library(attune_distributed INTERFACE)
  add_library(attune::distributed ALIAS attune_distributed)
  set_target_properties(attune_distributed PROPERTIES EXPORT_NAME distributed)
  target_link_libraries(attune_distributed INTERFACE attune MPI::MPI_CXX)
  set(ATTUNE_MPIEXEC_EXTRA "")
  execute_process(COMMAND "${MPIEXEC_EXECUTABLE}" --version OUTPUT_VARIABLE _attune_mpiexec_version ERROR_QUIET)
  if(_attune_mpiexec_version MATCHES "Open MPI|OpenRTE")
    set(ATTUNE_MPIEXEC_EXTRA --oversubscribe)
  endif()
  unset(_attune_mpiexec_version)
  set(ATTUNE_MPI_TEST_ENV OMP_NUM_THREADS=1 OMP_WAIT_POLICY=passive OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
endif()
message(STATUS "attune: distributed (MPI): ${ATTUNE_BUILD_DISTRIBUTED}")
