#!/usr/bin/env bash
# Run 27 (#22): quantization on append vectorised and split over workers (quant_kv_cache::append),
# and e4m3's widening in fewer instructions. One job on the 16-core Xeon: builds attune_bench and
# append_ab.cpp from 465a98d's tree (.device-in/old) and from this one, and this tree's quant
# tests; runs the tests (avx512, VNNI, the fixtures), then three rounds of [old bench, new bench,
# old append_ab, new append_ab at 1 and 16 threads].
# Needs .deb (scripts/fetch_debs.sh), .device-in/old (git archive 465a98d) and .device-in/golden.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
I="-I$root/.deb/root/usr/include -I$root/.deb/root/usr/include/eigen3"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
bench() {  # bench <name> <source tree>
  cmake -S $2 -B /tmp/b-$1 -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
    -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-$1.log 2>&1
  cmake --build /tmp/b-$1 -j 5 --target attune_bench > $OUT/build-$1.log 2>&1 || grep error $OUT/build-$1.log | head
}
date > $OUT/times.txt
bench old $root/.device-in/old & bench new $root &
g++ -std=c++17 -O2 -march=native -fopenmp -I.device-in/old/include $I bench/results/xeon-run27/append_ab.cpp -o /tmp/ab_old &
g++ -std=c++17 -O2 -march=native -fopenmp -DNEW_API -Iinclude $I bench/results/xeon-run27/append_ab.cpp -o /tmp/ab_new &
(cmake -S $root -B /tmp/b-test -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" $P -DATTUNE_WERROR=ON -DATTUNE_UNITY_TESTS=ON \
   -DATTUNE_BUILD_BENCH=OFF -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-test.log 2>&1 &&
 cmake --build /tmp/b-test -j 5 --target attune_quant_tests_avx512 attune_quant_vnni_tests attune_tests > $OUT/build-test.log 2>&1 ||
 grep -E "error" $OUT/build-test.log | head) &
wait
date >> $OUT/times.txt; lscpu > $OUT/lscpu.txt; g++ --version | head -1 > $OUT/gcc.txt
export ATTUNE_GOLDEN_DIR=$root/.device-in/golden
for t in "attune_quant_tests_avx512" "attune_quant_vnni_tests" "attune_tests [quant_fixtures]"; do
  set -- $t
  timeout 300 /tmp/b-test/tests/$1 ${2:-} > $OUT/test_$1.txt 2>&1; echo "$t rc=$?" >> $OUT/tests.txt; tail -3 $OUT/test_$1.txt >> $OUT/tests.txt
done
date >> $OUT/times.txt
# As run, this filter missed attune_bench's quant/append rows (their names go on after quant/append/);
# append_ab.cpp measured the appends.
F='^(decode/Lk:32768/D:128/kv:bf16/|quant/decode/Lk:32768/D:128/kv:fp8_e4m3/|quant/append/|prefill/causal/L:2048/D:128/bf16/out:bf16/)threads:(1|16)/'
export ATTUNE_BENCH_THREADS=16
for i in 1 2 3; do
  for t in old new; do
    timeout 100 /tmp/b-$t/bench/attune_bench --benchmark_filter="$F" --benchmark_min_time=0.2 --benchmark_out=$OUT/${t}_$i.json \
      --benchmark_out_format=json > $OUT/${t}_$i.txt 2>&1 || echo "$t $i rc=$?" >> $OUT/times.txt
  done
  OMP_NUM_THREADS=1 timeout 60 /tmp/ab_old > $OUT/ab_old_$i.txt 2>&1
  OMP_NUM_THREADS=16 timeout 60 /tmp/ab_new > $OUT/ab_new_$i.txt 2>&1
done
date >> $OUT/times.txt
cat $OUT/tests.txt
for i in 1 2 3; do for t in old new; do
  echo -n "$t$i: "; grep -E "^(decode|quant|prefill)" $OUT/${t}_$i.txt | awk '{printf "%s %s|", $1, $2}' | sed 's|/D:128||g; s|quant/||g; s|/real_time||g; s|L:2048/||g'; echo
done; done | tee $FINAL/summary.txt
for i in 1 2 3; do echo "append_ab round $i (old, then new)"; cat $OUT/ab_old_$i.txt $OUT/ab_new_$i.txt; done | tee -a $FINAL/summary.txt
cat $OUT/times.txt
