#!/usr/bin/env bash
# CI job "lint": checks that no header of include/attune includes up through attune's layers
# (scripts/ci/layers.py: the table of layers and what each is), then that the checker reports
# violations planted in a temporary copy, so it cannot pass by checking nothing; then that every
# C++ file follows .clang-format (clang-format 14, Debian 12's). Seconds; installs python3 and
# clang-format when missing.
#   scripts/ci/lint.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v python3 >/dev/null 2>&1 || ci_install python3
command -v clang-format >/dev/null 2>&1 || ci_install clang-format

status=0
python3 "$root/scripts/ci/layers.py" || status=1
python3 "$root/scripts/ci/layers.py" --self-test || status=1
# Formatting: the files git tracks, checked as clang-format would write them.
mapfile -t sources < <(cd "$root" && git ls-files 'include/*.hpp' 'tests/*.hpp' 'tests/*.cpp' 'examples/*.hpp' 'examples/*.cpp' 'bench/*.hpp' 'bench/*.cpp')
if ! (cd "$root" && clang-format --dry-run --Werror --style=file "${sources[@]}"); then
  echo "attune lint: files differ from .clang-format (fix: clang-format -i --style=file <files>)"
  status=1
fi
if [ "$status" -ne 0 ]; then
  echo "attune lint: FAILED"
  exit 1
fi
echo "attune lint: layers checked, self-test passed, ${#sources[@]} files formatted"
