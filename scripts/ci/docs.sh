#!/usr/bin/env bash
# CI job "docs": builds the API documentation with Doxygen (docs/Doxyfile: the headers under
# include/attune and the pages in docs/) into build-docs/html, and fails on any Doxygen warning.
#   scripts/ci/docs.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
ci_install doxygen python3

dir="$root/build-docs"
rm -rf "$dir"
mkdir -p "$dir"
log="$dir/doxygen.log"
set +e
(cd "$root" && doxygen docs/Doxyfile) >"$dir/doxygen.out" 2>"$log"
status=$?
set -e
# Doxyfile sets WARN_AS_ERROR = FAIL_ON_WARNINGS (non-zero exit); the log is checked as well, so a
# warning fails the job whatever the Doxygen version does with that setting.
warnings="$(grep -c . "$log" || true)"
if [ "$status" -ne 0 ] || [ "$warnings" -ne 0 ]; then
  cat "$log"
  echo "attune docs: FAILED (doxygen exit $status, $warnings warning lines)"
  exit 1
fi
echo "attune docs: $(find "$dir/html" -name '*.html' | wc -l) HTML pages in build-docs/html, 0 warnings"
