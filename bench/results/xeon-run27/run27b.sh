#!/usr/bin/env bash
# Run 27b (#22): the final tree's quant and cache suites on the Xeon (the caches that now take
# formats: streaming, h2o, duo), and attune_bench's quant/append rows beside peak/read at 1 and 16
# threads (three repetitions, medians). Needs .deb and .device-in/golden.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
date > $OUT/times.txt
(cmake -S $root -B /tmp/b-new -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
   -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-new.log 2>&1 &&
 cmake --build /tmp/b-new -j 6 --target attune_bench > $OUT/build-new.log 2>&1 || grep error $OUT/build-new.log | head) &
(cmake -S $root -B /tmp/b-test -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" $P -DATTUNE_WERROR=ON -DATTUNE_UNITY_TESTS=ON \
   -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-test.log 2>&1 &&
 cmake --build /tmp/b-test -j 10 --target attune_quant_tests_avx512 attune_quant_vnni_tests attune_cache_tests_avx512 > $OUT/build-test.log 2>&1 ||
 grep -E "error" $OUT/build-test.log | head) &
wait
date >> $OUT/times.txt; lscpu > $OUT/lscpu.txt
export ATTUNE_GOLDEN_DIR=$root/.device-in/golden
for t in attune_quant_tests_avx512 attune_quant_vnni_tests attune_cache_tests_avx512; do
  timeout 300 /tmp/b-test/tests/$t > $OUT/test_$t.txt 2>&1; echo "$t rc=$?" >> $OUT/tests.txt; tail -3 $OUT/test_$t.txt >> $OUT/tests.txt
done
date >> $OUT/times.txt
export ATTUNE_BENCH_THREADS=16
timeout 200 /tmp/b-new/bench/attune_bench --benchmark_filter='^(quant/append/.*|peak/read/)threads:(1|16)/' --benchmark_repetitions=3 \
  --benchmark_report_aggregates_only=true --benchmark_out=$OUT/append.json --benchmark_out_format=json > $OUT/append.txt 2>&1
date >> $OUT/times.txt
cat $OUT/tests.txt; grep median $OUT/append.txt | tee $FINAL/summary.txt; cat $OUT/times.txt
