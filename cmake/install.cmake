# Installs the headers and an exported target attune::attune with a package config, so
# consumers write find_package(attune) and link attune::attune.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# The build tree needs the same fix as attuneConfig.cmake.in (this file is included right after
# find_package(xsimd); the block belongs there, in the top-level CMakeLists.txt).
# Debian's xsimd 8 exports `xsimd` with INTERFACE_LINK_LIBRARIES "xtl", although xtl is only
# needed with XSIMD_ENABLE_XTL_COMPLEX; without the xtl package every link line gets a bare -lxtl
# and fails. Drop that link item when no xtl target can be found.
if(TARGET xsimd AND NOT TARGET xtl)
  get_target_property(_attune_xsimd_libs xsimd INTERFACE_LINK_LIBRARIES)
  if(_attune_xsimd_libs AND "xtl" IN_LIST _attune_xsimd_libs)
    find_package(xtl QUIET)
    if(NOT TARGET xtl)
      list(REMOVE_ITEM _attune_xsimd_libs xtl)
      set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_attune_xsimd_libs}")
    endif()
  endif()
  unset(_attune_xsimd_libs)
endif()


install(DIRECTORY include/attune DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS attune EXPORT attuneTargets)
install(EXPORT attuneTargets NAMESPACE attune:: DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)

set(ATTUNE_CONFIG_USES_OPENMP ${OpenMP_CXX_FOUND})
configure_package_config_file(cmake/attuneConfig.cmake.in
  "${CMAKE_CURRENT_BINARY_DIR}/attuneConfig.cmake"
  INSTALL_DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/attuneConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/attuneConfig.cmake" "${CMAKE_CURRENT_BINARY_DIR}/attuneConfigVersion.cmake"
  DESTINATION ${CMAKE_INSTALL_DATADIR}/cmake/attune)
