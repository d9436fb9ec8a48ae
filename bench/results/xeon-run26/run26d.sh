#!/usr/bin/env bash
# Run 26d: the batch driver's split granularity, A/B at 16 threads (#22 follow-up): this tree (a long
# row's share 1/8 of a worker's) against the same with a quarter (the old granularity, with the
# 256-key cap and the wrap fix), five alternating rounds of the serving rows.
# Needs .device-in/inc26-b4 (this tree's include with the quarter); output: all.tgz, summary.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
build() {  # build <name> <source tree>
  cmake -S $2 -B /tmp/b-$1 -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
    -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-$1.log 2>&1
  cmake --build /tmp/b-$1 -j 8 --target attune_bench > $OUT/build-$1.log 2>&1 || grep error $OUT/build-$1.log | head
}
mkdir -p /tmp/t-b4; tar -C $root --exclude=./.deb --exclude=./.device-in -cf - . | tar -C /tmp/t-b4 -xf -
rm -rf /tmp/t-b4/include; cp -r .device-in/inc26-b4/include /tmp/t-b4/
date > $OUT/times.txt
build b4 /tmp/t-b4 & build b8 $root & wait
date >> $OUT/times.txt
F='^(serving/paged_decode/Lk:32768/D:128/kv:bf16/page:16/nhd/|serving/batch/decode:64(\+prefill:4x512(of2048)?)?/(packed|paged16)/)threads:16/'
export ATTUNE_BENCH_THREADS=16
for i in 1 2 3 4 5; do for t in b4 b8; do
  timeout 60 /tmp/b-$t/bench/attune_bench --benchmark_filter="$F" --benchmark_min_time=0.2 --benchmark_out=$OUT/${t}_$i.json \
    --benchmark_out_format=json > $OUT/${t}_$i.txt 2>&1 || echo "$t $i rc=$?" >> $OUT/times.txt
done; done
date >> $OUT/times.txt
for t in b4 b8; do for i in 1 2 3 4 5; do
  echo -n "$t$i: "; grep -E "^serving" $OUT/${t}_$i.txt | awk '{printf "%s %s|", $1, $2}' | sed 's|/D:128||g; s|/real_time||g; s|/threads:16||g; s|serving/||g'; echo
done; done | tee $FINAL/summary.txt
cat $OUT/times.txt
