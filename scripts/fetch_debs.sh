#!/usr/bin/env bash
# Downloads the Debian packages that attune_bench and the tests need (headers of Eigen3 and xsimd,
# Google Benchmark's headers and library, Catch2) and unpacks them under .deb/root, for a machine
# without internet access or Debian -dev packages (see bench/device_run.sh). .deb/ is git-ignored.
#   scripts/fetch_debs.sh            -> .deb/*.deb and .deb/root/usr/{include,lib,share}
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pkgs=(libeigen3-dev libxsimd-dev libbenchmark-dev libbenchmark1debian catch2)
dest="$root/.deb"
mkdir -p "$dest"
cd "$dest"
rm -f ./*.deb
if ! apt-get download "${pkgs[@]}"; then
  echo "apt-get download failed; updating the package lists and retrying" >&2
  sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  apt-get download "${pkgs[@]}"
fi
rm -rf "$dest/root"
mkdir -p "$dest/root"
for deb in ./*.deb; do
  dpkg -x "$deb" "$dest/root"
done
ls -1 "$dest"/*.deb
echo "unpacked into $dest/root; configure with -DCMAKE_PREFIX_PATH=$dest/root/usr"
