#!/usr/bin/env bash
# Session 10's last Xeon job: six rounds of [attune's decode rows at Lk 32768 (bf16; int8, q8_0 and
# q4_0 with int8_query and int8_pv; q8_0 and q4_0 with int8_query alone), then ggml's own decode on
# the same shape], each ratio taken within its round; then peak/read and the rows at 2–16 threads.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
(cd .device-in/peers/ggml && cmake -S . -B /tmp/ggml_b -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CPU=ON \
   -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_SRC=$root/.device-in/ggml/ggml_python-0.0.45/vendor/ggml > $OUT/ggml_cmake.log 2>&1 \
   && cmake --build /tmp/ggml_b --target ggml_fa_bench -j 4 > $OUT/ggml_build.log 2>&1) &
cmake -S . -B /tmp/b -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
  -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake.log 2>&1
cmake --build /tmp/b -j 12 --target attune_bench > $OUT/build.log 2>&1 || grep error $OUT/build.log | head
wait
g++ --version | head -1 > $OUT/gcc.txt; lscpu > $OUT/lscpu.txt; git log --oneline -1 > $OUT/commit.txt 2>/dev/null
QFILT='^(peak/read/|decode/Lk:32768/D:128/kv:bf16/|quant/decode/Lk:32768/D:128/kv:(int8|q8_0|q4_0)/int8_query(/int8_pv)?/)threads:(1|16)/'
export ATTUNE_BENCH_THREADS=1,16
for i in 1 2 3 4 5 6; do
  timeout 60 /tmp/b/bench/attune_bench --benchmark_filter="$QFILT" --benchmark_min_time=0.25 --benchmark_out=$OUT/q_$i.json --benchmark_out_format=json > $OUT/q_$i.txt 2>&1
  chk=--no-check; [ $i = 1 ] && chk=
  mkdir -p $OUT/ggml_$i
  timeout 60 /tmp/ggml_b/bin/ggml_fa_bench --threads 1,16 --filter Lk32768 $chk --out $OUT/ggml_$i > $OUT/ggml_$i.txt 2>&1; echo "ggml rc=$?" >> $OUT/ggml_$i.txt
done
ATTUNE_BENCH_THREADS=2,4,8,16 timeout 60 /tmp/b/bench/attune_bench --benchmark_filter='^(peak/read/|decode/Lk:32768/D:128/kv:bf16/|quant/decode/Lk:32768/D:128/kv:(int8|q8_0|q4_0)/int8_query/int8_pv/)threads:' \
  --benchmark_min_time=0.25 --benchmark_out=$OUT/scale.json --benchmark_out_format=json > $OUT/scale.txt 2>&1
grep -E "^(decode|quant|peak)" $OUT/scale.txt | awk '{printf "%s %s|", $1, $2}' | sed 's|/D:128||g; s|Lk:32768/||g; s|quant/decode/||g'; echo
for i in 1 2 3 4 5 6; do echo -n "q$i: "; grep -E "^(decode|quant|peak)" $OUT/q_$i.txt | awk '{printf "%s %s|", $1, $2}' | sed 's|/D:128||g; s|Lk:32768/||g; s|quant/decode/||g; s|/real_time||g'; echo; echo -n "ggml$i: "; grep -E "Lk32768" $OUT/ggml_$i.txt | awk '{printf "%s t%s %s|", substr($1, 36), $3, $5}'; echo; done
grep -iE "fail|error|mismatch" $OUT/ggml_1.txt | head -3
