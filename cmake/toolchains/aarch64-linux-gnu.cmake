# Cross build for aarch64 (NEON) with Debian 12's g++-aarch64-linux-gnu; binaries run under qemu-user
# (ctest prefixes every test command with CMAKE_CROSSCOMPILING_EMULATOR). Used by scripts/ci/aarch64.sh:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
# attune's dependencies are header-only, but Debian's packages are x86 ones: their CMake configs
# put /usr/include (x86 glibc headers) on the include path and Catch2WithMain is an x86 library.
# So the packages are found through the small configs in aarch64-deps/, which expose only the
# headers of Eigen, xsimd and Catch2 and build Catch2's main from tests/catch_main.cpp.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# GCC 12's aarch64 -O3 inlines the tests' replaced global operator delete (std::free) into
# std::vector's deallocation and reports -Wmismatched-new-delete (a false positive: the replaced
# operator new allocates with std::malloc); the tests that count allocations do this on purpose.
set(CMAKE_CXX_FLAGS_INIT "-Wno-mismatched-new-delete")
set(ATTUNE_CROSS_SYSROOT /usr/aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR "qemu-aarch64;-L;${ATTUNE_CROSS_SYSROOT}")
set(CMAKE_FIND_ROOT_PATH ${ATTUNE_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(Eigen3_DIR "${CMAKE_CURRENT_LIST_DIR}/aarch64-deps" CACHE PATH "cross: header-only Eigen config")
set(xsimd_DIR "${CMAKE_CURRENT_LIST_DIR}/aarch64-deps" CACHE PATH "cross: header-only xsimd config")
set(Catch2_DIR "${CMAKE_CURRENT_LIST_DIR}/aarch64-deps" CACHE PATH "cross: Catch2 headers, main built from source")
