#!/usr/bin/env bash
# Run 26b: decode's key splits scheduled dynamically, as items_per_worker per worker (#22): A/B of
# attune_bench at 16 threads, four rounds of [old: HEAD 301ba6c, static shares of 2 items a worker;
# dyn2: the same plan scheduled dynamically; dyn8: 8 items a worker, dynamic (this tree)].
# Needs .device-in/inc26-old and .device-in/inc26-dyn2 (include trees); output: all.tgz, summary.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
build() {  # build <name> <source tree>
  cmake -S $2 -B /tmp/b-$1 -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
    -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-$1.log 2>&1
  cmake --build /tmp/b-$1 -j 6 --target attune_bench > $OUT/build-$1.log 2>&1 || grep error $OUT/build-$1.log | head
}
for t in old dyn2; do
  mkdir -p /tmp/t-$t; tar -C $root --exclude=./.deb --exclude=./.device-in -cf - . | tar -C /tmp/t-$t -xf -
  rm -rf /tmp/t-$t/include; cp -r .device-in/inc26-$t/include /tmp/t-$t/
done
date > $OUT/times.txt
build old /tmp/t-old & build dyn2 /tmp/t-dyn2 & build dyn8 $root & wait
date >> $OUT/times.txt; lscpu > $OUT/lscpu.txt; g++ --version | head -1 > $OUT/gcc.txt
F='^(peak/read/|decode/Lk:(1024|8192|32768)/D:128/kv:bf16/|decode/Lk:32768/D:128/kv:fp32/|quant/decode/Lk:(8192|32768)/D:128/kv:(int8|q8_0|q4_0)/int8_query/int8_pv/|quant/decode/Lk:32768/D:128/kv:(fp8_e4m3|q8_0|int4_g32)/|serving/paged_decode/Lk:32768/D:128/kv:bf16/page:16/nhd/)threads:16/'
export ATTUNE_BENCH_THREADS=16
for i in 1 2 3 4; do for t in old dyn2 dyn8; do
  timeout 45 /tmp/b-$t/bench/attune_bench --benchmark_filter="$F" --benchmark_min_time=0.2 --benchmark_out=$OUT/${t}_$i.json \
    --benchmark_out_format=json > $OUT/${t}_$i.txt 2>&1 || echo "$t $i rc=$?" >> $OUT/times.txt
done; done
date >> $OUT/times.txt
for t in old dyn2 dyn8; do for i in 1 2 3 4; do
  echo -n "$t$i: "; grep -E "^(decode|quant|peak|serving)" $OUT/${t}_$i.txt | awk '{printf "%s %s|", $1, $2}' | sed 's|/D:128||g; s|quant/decode/||g; s|/real_time||g; s|/threads:16||g; s|int8_query/int8_pv|iqpv|g'; echo
done; done | tee $FINAL/summary.txt
cat $OUT/times.txt
