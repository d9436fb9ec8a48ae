#!/usr/bin/env bash
# Run 28c (#22): options::int8_query on q4_1 (int4_group<32>) K. attune_bench's decode rows at Lk
# 32768 — bf16, q4_0 and int4_g32 with and without int8_query, q4_0 with both options — at 1 and
# 16 threads, three rounds (ratios taken within a round), and the VNNI test binary.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
date > $OUT/times.txt
(cmake -S $root -B /tmp/b-new -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
   -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-new.log 2>&1 &&
 cmake --build /tmp/b-new -j 8 --target attune_bench > $OUT/build-new.log 2>&1 || grep error $OUT/build-new.log | head) &
(cmake -S $root -B /tmp/b-test -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" $P -DATTUNE_WERROR=ON -DATTUNE_UNITY_TESTS=ON \
   -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-test.log 2>&1 &&
 cmake --build /tmp/b-test -j 8 --target attune_quant_vnni_tests > $OUT/build-test.log 2>&1 || grep -E "error" $OUT/build-test.log | head) &
wait
date >> $OUT/times.txt
timeout 120 /tmp/b-test/tests/attune_quant_vnni_tests > $OUT/test_vnni.txt 2>&1; echo "vnni rc=$?" >> $OUT/tests.txt; tail -2 $OUT/test_vnni.txt >> $OUT/tests.txt
export ATTUNE_BENCH_THREADS=16
for r in 1 2 3; do
  timeout 100 /tmp/b-new/bench/attune_bench \
    --benchmark_filter='^(decode/Lk:32768/D:128/kv:bf16|quant/decode/Lk:32768/D:128/kv:(q4_0|q4_0/int8_query|q4_0/int8_query/int8_pv|int4_g32|int4_g32/int8_query))/threads:(1|16)/' \
    --benchmark_min_time=0.2 > $OUT/decode_$r.txt 2>&1
done
date >> $OUT/times.txt
cat $OUT/tests.txt; grep -h "threads" $OUT/decode_*.txt | tee $FINAL/summary.txt; cat $OUT/times.txt
