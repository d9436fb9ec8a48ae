# Installs the headers and an exported target attune::attune with a package config, so
# consumers write find_package(attune) and link attune::attune.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

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
