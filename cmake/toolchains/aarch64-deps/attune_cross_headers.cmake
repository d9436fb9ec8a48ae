# A directory of links to single header trees of /usr/include (xsimd/, catch2/), so the cross
# compiler never sees the host's C library headers in /usr/include.
function(attune_cross_header_dir out)
  set(dir "${CMAKE_BINARY_DIR}/attune-cross-include")
  foreach(sub IN LISTS ARGN)
    if(NOT EXISTS "${dir}/${sub}")
      file(MAKE_DIRECTORY "${dir}")
      file(CREATE_LINK "/usr/include/${sub}" "${dir}/${sub}" SYMBOLIC)
    endif()
  endforeach()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()
