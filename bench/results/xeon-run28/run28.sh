#!/usr/bin/env bash
# Run 28 (#22): the final tree's quant, VNNI, cache, paged-cache and dispatch suites on the Xeon
# (gather and the landmark caches over quantized rows; paged_kv_cache::append over the executor;
# quantize-on-append and quantized attention dispatched); attune_bench's quant/append and
# quant/paged_append rows beside peak/read at 1 and 16 threads (three repetitions, medians); and
# dispatch_ab.cpp built without -march, with and without attune_dispatch(), three rounds.
# Needs .deb and .device-in/golden.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
here=$root/bench/results/xeon-run28
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
date > $OUT/times.txt
(cmake -S $root -B /tmp/b-new -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
   -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-new.log 2>&1 &&
 cmake --build /tmp/b-new -j 4 --target attune_bench > $OUT/build-new.log 2>&1 || grep error $OUT/build-new.log | head) &
(cmake -S $root -B /tmp/b-test -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" $P -DATTUNE_WERROR=ON -DATTUNE_UNITY_TESTS=ON \
   -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-test.log 2>&1 &&
 cmake --build /tmp/b-test -j 9 --target attune_quant_tests_avx512 attune_quant_vnni_tests attune_cache_tests_avx512 \
   attune_paged_cache_tests_avx512 attune_dispatch_test > $OUT/build-test.log 2>&1 || grep -E "error" $OUT/build-test.log | head) &
(cmake -S $here -B /tmp/b-ab -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" $P -DATTUNE_ROOT=$root > $OUT/cmake-ab.log 2>&1 &&
 cmake --build /tmp/b-ab -j 3 > $OUT/build-ab.log 2>&1 || grep -E "error" $OUT/build-ab.log | head) &
wait
date >> $OUT/times.txt; lscpu > $OUT/lscpu.txt
export ATTUNE_GOLDEN_DIR=$root/.device-in/golden
for t in attune_quant_tests_avx512 attune_quant_vnni_tests attune_cache_tests_avx512 attune_paged_cache_tests_avx512; do
  timeout 300 /tmp/b-test/tests/$t > $OUT/test_$t.txt 2>&1; echo "$t rc=$?" >> $OUT/tests.txt; tail -3 $OUT/test_$t.txt >> $OUT/tests.txt
done
(cd /tmp/b-test && timeout 120 ctest -R dispatch > $OUT/test_dispatch.txt 2>&1; echo "dispatch rc=$?" >> $OUT/tests.txt; grep "tests passed\|Failed" $OUT/test_dispatch.txt >> $OUT/tests.txt)
date >> $OUT/times.txt
for r in 1 2 3; do
  for b in ab_base ab_dispatch; do echo "round $r $b: $(timeout 60 /tmp/b-ab/$b)" >> $OUT/ab.txt; done
  echo "round $r ab_dispatch ATTUNE_ARCH=sse2: $(ATTUNE_ARCH=sse2 timeout 60 /tmp/b-ab/ab_dispatch)" >> $OUT/ab.txt
done
date >> $OUT/times.txt
export ATTUNE_BENCH_THREADS=16
timeout 240 /tmp/b-new/bench/attune_bench --benchmark_filter='^(quant/append/.*|quant/paged_append/.*|peak/read/)threads:(1|16)/' \
  --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_out=$OUT/append.json --benchmark_out_format=json > $OUT/append.txt 2>&1
date >> $OUT/times.txt
cat $OUT/tests.txt; cat $OUT/ab.txt; grep median $OUT/append.txt | tee $FINAL/summary.txt; cat $OUT/times.txt
