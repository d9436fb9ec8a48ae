#!/usr/bin/env bash
# Run 25 (#22): simd::fma as one instruction on AVX-512 (45c796b) against xsimd 8.1's generic
# a·b + c (3b28902, `git archive` unpacked in .device-in/old-tree), GCC 13.3 on the Xeon: three
# rounds of [old, new] attune_bench on the prefill and decode rows, 1 and 16 threads.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
for t in old new; do
  src=$root; [ $t = old ] && src=$root/.device-in/old-tree
  (cmake -S $src -B /tmp/b_$t -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
     -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake_$t.log 2>&1 &&
   cmake --build /tmp/b_$t -j 8 --target attune_bench > $OUT/build_$t.log 2>&1 || grep error $OUT/build_$t.log | head -3) &
done
wait
g++ --version | head -1 > $OUT/gcc.txt; lscpu > $OUT/lscpu.txt
for t in old new; do objdump -d --no-show-raw-insn /tmp/b_$t/bench/attune_bench | awk '{print $2}' | grep -cE '^vfn?madd...ps$' > $OUT/fma_count_$t.txt; done
F='^(peak/read/|prefill/causal/L:2048/D:128/(bf16/out:bf16/)?|decode/Lk:32768/D:128/kv:(fp32|bf16)/|quant/decode/Lk:32768/D:128/kv:(int8|int8ch|fp8_e4m3|q8_0|q4_0)/(int8_query/)?(int8_pv/)?)threads:(1|16)/'
export ATTUNE_BENCH_THREADS=1,16
for i in 1 2 3; do
  for t in old new; do
    timeout 100 /tmp/b_$t/bench/attune_bench --benchmark_filter="$F" --benchmark_min_time=0.2 \
      --benchmark_out=$OUT/${t}_$i.json --benchmark_out_format=json > $OUT/${t}_$i.txt 2>&1
  done
done
echo "fma instructions: old $(cat $OUT/fma_count_old.txt), new $(cat $OUT/fma_count_new.txt)"
for i in 1 2 3; do for t in old new; do echo -n "$t$i: "; grep -E "^(decode|quant|peak|prefill)" $OUT/${t}_$i.txt | awk '{printf "%s %s|", $1, $2}' | sed 's|/D:128||g; s|Lk:32768/||g; s|quant/decode/||g; s|/real_time||g; s|L:2048/||g'; echo; done; done
