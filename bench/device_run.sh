#!/usr/bin/env bash
# Builds and runs attune_bench on a test machine without internet or Debian -dev packages, then
# compares with PyTorch. Needs g++, cmake, python3 (with PyTorch for the comparison) and the
# Debian packages unpacked under .deb/root by scripts/fetch_debs.sh (run that where apt works and
# bring .deb/ along: with the device tool, carry [".deb"]; .deb/ is git-ignored).
#   bench/device_run.sh                          results in $OUT (default build-device/out)
#   ATTUNE_BENCH_THREADS=1,16                    thread counts besides 1 and 2 (default 1,16)
#   BENCH_FILTER='prefill|decode|peak'           a --benchmark_filter (default: every row)
#   BENCH_ARGS='--benchmark_repetitions=3 --benchmark_report_aggregates_only=true'   more arguments
#   ROUNDS=8                                     that many rounds of attune then PyTorch, one right
#                                                after the other, and the medians of the per-round
#                                                ratios (bench/rounds.py): steadier on a shared VM
# Writes $OUT/bench.json (attune_bench's JSON), bench.txt, compare.md (the table), machine.txt;
# with ROUNDS, rounds.md (the medians) and rounds.tar.gz (bench_r<i>.json and compare_r<i>.json
# of every round).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
OUT="${OUT:-$root/build-device/out}"
mkdir -p "$OUT"
prefix="$root/.deb/root/usr"
if [ ! -d "$prefix/include/eigen3" ] || [ ! -d "$prefix/include/benchmark" ]; then
  echo "device_run.sh: $prefix lacks the unpacked packages: run scripts/fetch_debs.sh and bring .deb/ along" >&2
  exit 1
fi
build="${BUILD_DIR:-$root/build-device}"
jobs="$(nproc)"

{
  echo "host: $(hostname)"
  uname -a
  lscpu || true
  g++ --version | head -n 1
  cmake --version | head -n 1
  python3 -c 'import torch; print("torch", torch.__version__); print(torch.__config__.parallel_info())' 2>&1 || true
} > "$OUT/machine.txt"
grep -E '^(Model name|CPU\(s\)|Thread|Core|Socket|L[123])' "$OUT/machine.txt" || true

# Packages only from .deb/root: the prefix comes first, and find_package prefers config files.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON \
  -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON
cmake --build "$build" -j "$jobs" --target attune_bench

export ATTUNE_BENCH_THREADS="${ATTUNE_BENCH_THREADS:-1,16}"
bench_args=(--benchmark_out="$OUT/bench.json" --benchmark_out_format=json)
[ -n "${BENCH_FILTER:-}" ] && bench_args+=(--benchmark_filter="$BENCH_FILTER")
# e.g. BENCH_ARGS="--benchmark_repetitions=3 --benchmark_report_aggregates_only=true" (medians)
# shellcheck disable=SC2206
[ -n "${BENCH_ARGS:-}" ] && bench_args+=($BENCH_ARGS)
rounds="${ROUNDS:-1}"
if [ "$rounds" -gt 1 ]; then
  outs=()
  for i in $(seq "$rounds"); do
    "$build/bench/attune_bench" "${bench_args[@]}" --benchmark_out="$OUT/bench_r$i.json" > /dev/null
    python3 "$root/bench/compare_torch.py" "$OUT/bench_r$i.json" --json "$OUT/compare_r$i.json" > /dev/null
    outs+=("$OUT/compare_r$i.json")
    echo "round $i of $rounds done"
  done
  python3 "$root/bench/rounds.py" "${outs[@]}" --markdown "$OUT/rounds.md"
  # The per-round JSON as one archive: a remote runner that copies back only a few files still
  # brings every round home.
  (cd "$OUT" && tar -czf rounds.tar.gz bench_r*.json compare_r*.json && rm -f bench_r*.json compare_r*.json)
  exit 0
fi
start=$(date +%s)
"$build/bench/attune_bench" "${bench_args[@]}" | tee "$OUT/bench.txt"
echo "attune_bench took $(( $(date +%s) - start )) s"

python3 "$root/bench/compare_torch.py" "$OUT/bench.json" --markdown "$OUT/compare.md"
echo "wrote $OUT/bench.json and $OUT/compare.md"
