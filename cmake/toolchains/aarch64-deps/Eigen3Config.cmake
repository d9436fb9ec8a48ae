# Cross builds (../aarch64-linux-gnu.cmake): Eigen's headers only, from Debian's libeigen3-dev.
if(NOT TARGET Eigen3::Eigen)
  add_library(Eigen3::Eigen INTERFACE IMPORTED)
  set_target_properties(Eigen3::Eigen PROPERTIES INTERFACE_INCLUDE_DIRECTORIES /usr/include/eigen3)
endif()
set(Eigen3_FOUND TRUE)
