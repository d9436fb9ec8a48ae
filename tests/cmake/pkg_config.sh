#!/usr/bin/env bash
# ctest cmake.pkg_config (after cmake.install): the installed tree is laid out as Debian lays out an
# arch-independent header-only library, and a plain compiler line with pkg-config builds the
# consumer (tests/cmake/consumer/main.cpp, a causal GQA attention checked against a naive loop),
# which then runs. A copy of the tree moved elsewhere names its own headers: attune.pc's prefix is
# relative to its own directory.
#   pkg_config.sh <pkg-config> <c++ compiler> <installed prefix> <consumer main.cpp> <work dir> <version>
set -euo pipefail
pkgconfig="$1" cxx="$2" prefix="$3" main="$4" work="$5" version="$6"
fail() {
  echo "FAILED: $*" >&2
  exit 1
}

# The layout (GNUInstallDirs' defaults on Debian).
for f in include/attune/attune.hpp include/attune/version.hpp \
  share/cmake/attune/attuneConfig.cmake share/cmake/attune/attuneConfigVersion.cmake \
  share/cmake/attune/attuneTargets.cmake share/pkgconfig/attune.pc \
  share/doc/attune/LICENSE share/doc/attune/README.md; do
  [ -f "$prefix/$f" ] || fail "$prefix/$f is missing from the installed tree"
done
# Nothing arch-dependent: no lib/ (the .pc and the CMake package are under share/).
[ ! -e "$prefix/lib" ] || fail "$prefix/lib exists: a header-only package installs nothing there"

rm -rf "$work"
mkdir -p "$work"
cp -R "$prefix" "$work/moved"  # a relocated copy of the installed tree

# pkg-config's view of a tree: its version and flags; the -I of attune's headers must be that tree's.
query() {
  local root="$1"
  export PKG_CONFIG_PATH="$root/share/pkgconfig${base_path:+:$base_path}"
  got="$("$pkgconfig" --modversion attune)" || fail "pkg-config does not find attune in $root"
  [ "$got" = "$version" ] || fail "attune.pc says version $got, the project $version"
  cflags="$("$pkgconfig" --cflags attune)" || fail "pkg-config --cflags attune (are eigen3.pc and xsimd.pc installed?)"
  libs="$("$pkgconfig" --libs attune)"
  echo "pkg-config attune ($root): cflags: $cflags; libs: $libs"
  local flag dir found=""
  for flag in $cflags; do
    case "$flag" in -I*) dir="${flag#-I}" ;; *) continue ;; esac
    if [ -f "$dir/attune/version.hpp" ] && [ "$(cd "$dir" && pwd -P)" = "$(cd "$root/include" && pwd -P)" ]; then
      found=1
    fi
  done
  [ -n "$found" ] || fail "--cflags does not name $root/include: $cflags"
}
base_path="${PKG_CONFIG_PATH:-}"

# The consumer, compiled and run with the installed prefix's flags.
query "$prefix"
# shellcheck disable=SC2086 # pkg-config's output is a list of flags
"$cxx" -O2 -o "$work/consumer" "$main" $cflags $libs || fail "the consumer does not compile with pkg-config's flags"
"$work/consumer" || fail "the consumer built against $prefix gave wrong results"
# The moved copy: its own headers are the ones named (the compile itself is the one above).
query "$work/moved"
echo "cmake.pkg_config: layout, version $version; the consumer built and ran; a moved copy names its own headers"
