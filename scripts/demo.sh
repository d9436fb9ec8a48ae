#!/usr/bin/env bash
# Builds and runs attune's demo program (examples/) on a fresh Debian 12 machine, installing the
# packages it needs first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=deps.sh
. "$root/scripts/deps.sh"
attune_install_deps

cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$root/build" -j "$(attune_jobs)" --target attune_demo
"$root/build/examples/attune_demo" "$@"
