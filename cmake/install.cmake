# Installs the headers and an exported target attune::attune with a package config, so
# consumers write find_package(attune) and link attune::attune, or use pkg-config. The layout is
# Debian's for an arch-independent header-only library (GNUInstallDirs; tests/cmake checks it):
#   include/attune/              the headers
#   share/cmake/attune/          attuneConfig.cmake, attuneConfigVersion.cmake, attuneTargets.cmake,
#                                dispatch.cmake and dispatch/ (attune_dispatch() for consumers)
#   share/pkgconfig/attune.pc    pkg-config
#   share/doc/attune/            LICENSE, README.md
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY include/attune DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS attune EXPORT attuneTargets)
install(EXPORT attuneTargets NAMESPACE attune:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)
# attune::distributed in an export set of its own: attuneConfig.cmake loads it only when the
# consumer finds MPI, so find_package(attune) keeps working without MPI.
if(TARGET attune_distributed)
  install(TARGETS attune_distributed EXPORT attuneDistributedTargets)
  install(EXPORT attuneDistributedTargets NAMESPACE attune:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)
endif()

set(ATTUNE_CONFIG_USES_OPENMP ${OpenMP_CXX_FOUND})
configure_package_config_file(cmake/attuneConfig.cmake.in
  "${CMAKE_CURRENT_BINARY_DIR}/attuneConfig.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/attuneConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/attuneConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/attuneConfigVersion.cmake"
  DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)
# attune_dispatch(<target>) (one binary for every CPU) for find_package consumers: the config
# includes dispatch.cmake, which finds its built-in instance list in dispatch/ beside it.
install(FILES cmake/dispatch.cmake DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)
install(DIRECTORY cmake/dispatch DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)

# pkg-config (cmake/attune.pc.in): share/pkgconfig/attune.pc, for builds without CMake
# (`c++ $(pkg-config --cflags --libs attune)`). Its prefix is relative to the .pc file's own
# directory, so a relocated tree still works; absolute install dirs are written as they are.
if(IS_ABSOLUTE "${CMAKE_INSTALL_DATADIR}")
  set(ATTUNE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _attune_pc_up "/prefix/${CMAKE_INSTALL_DATADIR}/pkgconfig" "/prefix")
  string(REGEX REPLACE "/$" "" _attune_pc_up "${_attune_pc_up}")
  set(ATTUNE_PC_PREFIX "\${pcfiledir}/${_attune_pc_up}")
  unset(_attune_pc_up)
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(ATTUNE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(ATTUNE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
# OpenMP as the CMake package links it (attuneConfig.cmake: only when this build found it);
# -fopenmp is the flag g++ and clang (with libomp) both take.
set(ATTUNE_PC_OPENMP "")
if(ATTUNE_USE_OPENMP AND OpenMP_CXX_FOUND)
  set(ATTUNE_PC_OPENMP " -fopenmp")
endif()
configure_file(cmake/attune.pc.in "${CMAKE_CURRENT_BINARY_DIR}/attune.pc" @ONLY)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/attune.pc" DESTINATION ${CMAKE_INSTALL_DATADIR}/pkgconfig)

# The licence and README where Debian puts a package's documents (share/doc/attune).
install(FILES LICENSE README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
