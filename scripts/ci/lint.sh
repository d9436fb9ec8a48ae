#!/usr/bin/env bash
# CI job "lint": checks that no header of include/attune includes up through attune's layers
# (scripts/ci/layers.py: the table of layers and what each is), then that the checker reports
# violations planted in a temporary copy, so it cannot pass by checking nothing. Seconds; needs
# python3 only (Debian 12 has it; installed when missing).
#   scripts/ci/lint.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
command -v python3 >/dev/null 2>&1 || ci_install python3

status=0
python3 "$root/scripts/ci/layers.py" || status=1
python3 "$root/scripts/ci/layers.py" --self-test || status=1
if [ "$status" -ne 0 ]; then
  echo "attune lint: FAILED"
  exit 1
fi
echo "attune lint: layers checked, self-test passed"
