# The SIMD archs attune's tests are built for. Each entry: name, the xsimd arch type the kernels
# are instantiated with, and the compiler flags that enable it. Tests for an arch are registered
# only where the configuring machine can run it (checked by running a probe), so a test binary never
# meets an illegal instruction.
set(ATTUNE_ARCHS scalar sse2 avx2 avx512)
set(ATTUNE_ARCH_TYPE_scalar "attune::simd::scalar")
set(ATTUNE_ARCH_FLAGS_scalar "")
set(ATTUNE_ARCH_TYPE_sse2 "xsimd::sse2")
set(ATTUNE_ARCH_FLAGS_sse2 "-msse2")
set(ATTUNE_ARCH_TYPE_avx2 "xsimd::fma3<xsimd::avx2>")
set(ATTUNE_ARCH_FLAGS_avx2 "-mavx2;-mfma")
set(ATTUNE_ARCH_TYPE_avx512 "xsimd::avx512bw")
set(ATTUNE_ARCH_FLAGS_avx512 "-mavx512f;-mavx512cd;-mavx512dq;-mavx512bw;-mavx512vl;-mavx2;-mfma")
# The avx512 tests also compile the AMX score path (simd/amx.hpp), which runs only where the CPU
# and OS allow it and otherwise falls back at run time: the same binary tests both.
include(CheckCXXCompilerFlag)
check_cxx_compiler_flag("-mamx-tile -mamx-bf16" ATTUNE_COMPILER_HAS_AMX)
# AMX-INT8 (options::int8_qk's integer scores, simd/amx_int8.hpp) likewise, checked at run time.
check_cxx_compiler_flag("-mamx-tile -mamx-int8" ATTUNE_COMPILER_HAS_AMX_INT8)
if(ATTUNE_COMPILER_HAS_AMX AND CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  list(APPEND ATTUNE_ARCH_FLAGS_avx512 -mamx-tile -mamx-bf16)
  if(ATTUNE_COMPILER_HAS_AMX_INT8)
    list(APPEND ATTUNE_ARCH_FLAGS_avx512 -mamx-int8)
  endif()
endif()

if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|amd64")
  set(ATTUNE_ARCHS scalar)
  set(ATTUNE_ARCH_TYPE_native "attune::default_arch")
endif()
# aarch64 (native, or the cross build of cmake/toolchains/aarch64-linux-gnu.cmake): the scalar path
# and NEON, which every aarch64 CPU has (no probe needed).
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64|ARM64)$")
  set(ATTUNE_ARCHS scalar neon64)
  set(ATTUNE_ARCH_TYPE_neon64 "xsimd::neon64")
  set(ATTUNE_ARCH_FLAGS_neon64 "")
endif()

set(ATTUNE_RUNNABLE_ARCHS "")
foreach(arch IN LISTS ATTUNE_ARCHS)
  if(arch STREQUAL "scalar" OR arch STREQUAL "sse2" OR arch STREQUAL "neon64")
    list(APPEND ATTUNE_RUNNABLE_ARCHS ${arch})
    continue()
  endif()
  set(probe_src "${CMAKE_BINARY_DIR}/arch_probe_${arch}.cpp")
  file(WRITE "${probe_src}" "
#include <xsimd/xsimd.hpp>
int main() { return xsimd::available_architectures().best >= ${ATTUNE_ARCH_TYPE_${arch}}::version() ? 0 : 1; }\n")
  get_target_property(xsimd_inc xsimd INTERFACE_INCLUDE_DIRECTORIES)
  try_run(run_result compile_ok "${CMAKE_BINARY_DIR}/arch_probe_${arch}" "${probe_src}"
          CMAKE_FLAGS "-DINCLUDE_DIRECTORIES=${xsimd_inc}"
          COMPILE_DEFINITIONS ${ATTUNE_ARCH_FLAGS_${arch}}
          CXX_STANDARD 17)
  if(compile_ok AND run_result EQUAL 0)
    list(APPEND ATTUNE_RUNNABLE_ARCHS ${arch})
  endif()
endforeach()

# ATTUNE_TEST_ARCHS restricts the archs tests are built for (CI jobs that need one arch, e.g. the
# sanitizer build): a list of arch names, and/or `best` for the widest arch this machine runs.
# Empty (the default): every arch above.
set(ATTUNE_TEST_ARCHS "" CACHE STRING "Archs to build tests for (names from ATTUNE_ARCHS, or best); empty: all")
if(NOT "${ATTUNE_TEST_ARCHS}" STREQUAL "")
  set(_attune_keep "")
  foreach(arch IN LISTS ATTUNE_TEST_ARCHS)
    if(arch STREQUAL "best")
      list(GET ATTUNE_RUNNABLE_ARCHS -1 arch)
    endif()
    if(NOT arch IN_LIST ATTUNE_ARCHS)
      message(FATAL_ERROR "ATTUNE_TEST_ARCHS: unknown arch '${arch}' (known: ${ATTUNE_ARCHS})")
    endif()
    list(APPEND _attune_keep ${arch})
  endforeach()
  list(REMOVE_DUPLICATES _attune_keep)
  set(ATTUNE_ARCHS ${_attune_keep})
  set(_attune_runnable "")
  foreach(arch IN LISTS ATTUNE_RUNNABLE_ARCHS)
    if(arch IN_LIST ATTUNE_ARCHS)
      list(APPEND _attune_runnable ${arch})
    endif()
  endforeach()
  set(ATTUNE_RUNNABLE_ARCHS ${_attune_runnable})
  unset(_attune_keep)
  unset(_attune_runnable)
endif()
message(STATUS "attune: test archs this machine runs: ${ATTUNE_RUNNABLE_ARCHS}")
