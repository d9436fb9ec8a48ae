#!/usr/bin/env bash
# A/B of attune_bench between an earlier tree and this one, in one job: both are built with the
# same flags, then ROUNDS rounds run A and B (alternating which goes first) on the same rows; bench/ab.py prints, per row, the
# median over rounds of time(A) / time(B) (> 1: B faster). For a machine without internet, as
# bench/device_run.sh (carry .deb/ and the earlier tree).
#   git archive <commit> | tar -x -C .ab-base     (an ignored folder; carry it with .deb)
#   BASE=.ab-base ROUNDS=5 BENCH_FILTER='prefill/causal/L:2048/D:128/threads:1/' bench/ab_run.sh
# NEW names the later tree (default: this one), e.g. a clean export of a commit carried as .ab-new.
# Writes $OUT/ab.md and $OUT/ab.tar.gz (every round's JSON).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
OUT="${OUT:-$root/build-ab/out}"
BASE="${BASE:?BASE must name the earlier tree}"
NEW="${NEW:-$root}"
mkdir -p "$OUT"
prefix="$root/.deb/root/usr"
export ATTUNE_BENCH_THREADS="${ATTUNE_BENCH_THREADS:-1,16}"
build() {  # build <source tree> <build dir>
  cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON \
    -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON > /dev/null
  cmake --build "$2" -j "$(nproc)" --target attune_bench > /dev/null
}
build "$BASE" "$root/build-ab/a"
build "$NEW" "$root/build-ab/b"
args=(--benchmark_out_format=json)
[ -n "${BENCH_FILTER:-}" ] && args+=(--benchmark_filter="$BENCH_FILTER")
# shellcheck disable=SC2206
[ -n "${BENCH_ARGS:-}" ] && args+=($BENCH_ARGS)
rounds="${ROUNDS:-5}"
# Odd rounds run A first, even rounds B first, so neither side always follows the other's load.
for i in $(seq "$rounds"); do
  order=(a b)
  [ $((i % 2)) -eq 0 ] && order=(b a)
  for side in "${order[@]}"; do
    "$root/build-ab/$side/bench/attune_bench" "${args[@]}" --benchmark_out="$OUT/${side}_r$i.json" > /dev/null
  done
  echo "round $i of $rounds done"
done
python3 "$root/bench/ab.py" "$OUT" "$rounds" | tee "$OUT/ab.md"
(cd "$OUT" && tar -czf ab.tar.gz a_r*.json b_r*.json && rm -f a_r*.json b_r*.json)
