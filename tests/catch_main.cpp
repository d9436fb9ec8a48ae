// Catch2's main, compiled from source where Debian's prebuilt Catch2WithMain cannot be linked
// (cross builds: cmake/toolchains/aarch64-deps/Catch2Config.cmake). Native builds link
// Catch2::Catch2WithMain from the catch2 package and do not use this file.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
