# Sourced by the CI jobs in scripts/ci/: the repository root, package installation and a ctest
# run that ends with one summary line. Each job builds in its own directory (build-<job>).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=../deps.sh
. "$root/scripts/deps.sh"
export DEBIAN_FRONTEND=noninteractive

# ci_install <packages…>: installs the Debian packages that are missing (sudo when not root).
ci_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  echo "attune ci: installing missing packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}

jobs="$(attune_jobs)"

# ci_ctest <job> <build dir> <ctest arguments…>: runs ctest, prints "attune <job>: <summary>".
ci_ctest() {
  local job="$1" dir="$2"
  shift 2
  local log="$dir/ctest.log" status
  set +e
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  set -e
  local summary
  summary="$(grep -E 'tests passed|No tests were found' "$log" | tail -n 1 || true)"
  echo
  ci_random_summary "$dir"
  echo "attune $job: ${summary:-ctest printed no summary line}"
  return "$status"
}

# ci_random_summary <build dir>: the randomized test's count lines from ctest's last log
# ("random [avx512]: 4000 cases, 0 failed, …").
ci_random_summary() {
  local last="$1/Testing/Temporary/LastTest.log"
  [ -f "$last" ] && grep -E '^random \[[a-z0-9]+\]: [0-9]+ cases' "$last" | sed 's/; cases per variant:.*//' || true
}
