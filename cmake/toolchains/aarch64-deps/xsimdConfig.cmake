# Cross builds (../aarch64-linux-gnu.cmake): xsimd's headers only, from Debian's libxsimd-dev.
include(${CMAKE_CURRENT_LIST_DIR}/attune_cross_headers.cmake)
if(NOT TARGET xsimd)
  attune_cross_header_dir(_attune_inc xsimd)
  add_library(xsimd INTERFACE IMPORTED)
  set_target_properties(xsimd PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_attune_inc}")
endif()
set(xsimd_FOUND TRUE)
set(xsimd_VERSION 8.1.0)
