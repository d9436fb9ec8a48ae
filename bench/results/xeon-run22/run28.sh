#!/usr/bin/env bash
# Session 9's second Xeon job: four rounds of [attune's quantized decode rows (bf16 reference row,
# int8/q8_0/q4_0 with int8_query and int8_pv) at Lk 32768, then ggml's own decode at Lk 32768],
# so that each ratio is taken within a round (the VM moves single samples by up to 1.7×).
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
cmake -S . -B build-x -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_TEST_ARCHS=avx512 -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
  -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake.log 2>&1
(cd .device-in/peers/ggml && cmake -S . -B /tmp/ggml_b -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CPU=ON \
   -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_SRC=$root/.device-in/ggml/ggml_python-0.0.45/vendor/ggml > $OUT/ggml_cmake.log 2>&1 \
   && cmake --build /tmp/ggml_b --target ggml_fa_bench -j 4 > $OUT/ggml_build.log 2>&1) &
gpid=$!
cmake --build build-x -j 12 --target attune_bench > $OUT/build.log 2>&1 || grep error $OUT/build.log | head
wait $gpid
export ATTUNE_BENCH_THREADS=1,16
QFILT='^(peak/read/|decode/Lk:32768/D:128/kv:bf16/|quant/decode/Lk:32768/D:128/kv:(int8|q8_0|q4_0)(/int8_query)?(/int8_pv)?/)threads:(1|16)/'
for i in 1 2 3 4; do
  timeout 60 build-x/bench/attune_bench --benchmark_filter="$QFILT" --benchmark_min_time=0.25 --benchmark_out=$OUT/q_$i.json --benchmark_out_format=json > $OUT/q_$i.txt 2>&1
  chk=--no-check; [ $i = 1 ] && chk=
  mkdir -p $OUT/ggml_$i
  timeout 60 /tmp/ggml_b/bin/ggml_fa_bench --threads 1,16 --filter Lk32768 $chk --out $OUT/ggml_$i > $OUT/ggml_$i.txt 2>&1; echo "ggml rc=$?" >> $OUT/ggml_$i.txt
done
# Scaling: the same rows at 1, 2, 4, 8 and 16 threads (bandwidth or per-core cost?).
ATTUNE_BENCH_THREADS=2,4,8,16 timeout 60 build-x/bench/attune_bench --benchmark_filter='^(peak/read/|decode/Lk:32768/D:128/kv:bf16/|quant/decode/Lk:32768/D:128/kv:(int8|q4_0)/int8_query/int8_pv/)threads:' \
  --benchmark_min_time=0.25 --benchmark_out=$OUT/scale.json --benchmark_out_format=json > $OUT/scale.txt 2>&1
grep -E "^(decode|quant|peak)" $OUT/scale.txt | awk '{printf "%s %s %s|", $1, $2, $3}'; echo
for i in 1 2 3 4; do grep -E "^(decode|quant|peak)" $OUT/q_$i.txt | awk '{printf "%s %s|", $2, $3}'; echo; grep -E "Lk32768" $OUT/ggml_$i.txt | awk '{printf "%s t%s %s|", substr($1, 36), $3, $5}'; echo; done
