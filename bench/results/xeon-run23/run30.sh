#!/usr/bin/env bash
# Session 10's Xeon job: four rounds of [attune's quantized decode rows at Lk 32768 built from this
# commit, the same rows built from 6b01f95 (run 22's kernels; .device-in/inc-old), then ggml's own
# decode at Lk 32768], so that each ratio is taken within a round; then the L2-resident per-key
# times of both (qpv.cpp: Hq 4 / Hkv 1, D 128, Lk 1024, one thread).
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
rm -rf /tmp/old && mkdir -p /tmp/old && cp -r CMakeLists.txt cmake bench examples tests scripts /tmp/old/ && cp -r .device-in/inc-old/include /tmp/old/include
(cd .device-in/peers/ggml && cmake -S . -B /tmp/ggml_b -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CPU=ON \
   -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_SRC=$root/.device-in/ggml/ggml_python-0.0.45/vendor/ggml > $OUT/ggml_cmake.log 2>&1 \
   && cmake --build /tmp/ggml_b --target ggml_fa_bench -j 4 > $OUT/ggml_build.log 2>&1) &
gpid=$!
for t in new old; do
  src=$root; [ $t = old ] && src=/tmp/old
  cmake -S $src -B /tmp/b-$t -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
    -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake_$t.log 2>&1
  cmake --build /tmp/b-$t -j 6 --target attune_bench > $OUT/build_$t.log 2>&1 || grep error $OUT/build_$t.log | head &
  g++ -std=c++17 -O3 -march=native -DNDEBUG -fopenmp -I$src/include -I$root/.deb/root/usr/include/eigen3 -I$root/.deb/root/usr/include \
    bench/results/xeon-run23/qpv.cpp -o /tmp/qpv-$t > $OUT/qpv_build_$t.log 2>&1 &
done
wait
g++ --version | head -1 > $OUT/gcc.txt; lscpu > $OUT/lscpu.txt
QFILT='^(peak/read/|decode/Lk:32768/D:128/kv:bf16/|quant/decode/Lk:32768/D:128/kv:(int8/int8_query/int8_pv|q8_0|q4_0)(/int8_query)?(/int8_pv)?/)threads:(1|16)/'
export ATTUNE_BENCH_THREADS=1,16
for i in 1 2 3 4; do
  for t in new old; do
    timeout 70 /tmp/b-$t/bench/attune_bench --benchmark_filter="$QFILT" --benchmark_min_time=0.25 --benchmark_out=$OUT/${t}_$i.json --benchmark_out_format=json > $OUT/${t}_$i.txt 2>&1
  done
  chk=--no-check; [ $i = 1 ] && chk=
  mkdir -p $OUT/ggml_$i
  timeout 60 /tmp/ggml_b/bin/ggml_fa_bench --threads 1,16 --filter Lk32768 $chk --out $OUT/ggml_$i > $OUT/ggml_$i.txt 2>&1; echo "ggml rc=$?" >> $OUT/ggml_$i.txt
done
for r in 1 2 3; do for t in new old; do /tmp/qpv-$t 1024 /iq > $OUT/qpv_${t}_$r.txt 2>&1; /tmp/qpv-$t 1024 bf16 >> $OUT/qpv_${t}_$r.txt 2>&1; done; done
for t in new old; do echo "== qpv $t"; cat $OUT/qpv_${t}_*.txt | sort | awk '{k=$1; if(!(k in m)||$2<m[k])m[k]=$2} END{for(k in m)printf "%s %s|", k, m[k]; print ""}'; done
for i in 1 2 3 4; do for t in new old; do echo -n "$t$i: "; grep -E "^(decode|quant|peak)" $OUT/${t}_$i.txt | awk '{printf "%s %s|", $1, $2}' | sed 's|/D:128||g; s|Lk:32768/||g; s|quant/decode/||g'; echo; done; echo -n "ggml$i: "; grep -E "Lk32768" $OUT/ggml_$i.txt | awk '{printf "%s t%s %s|", substr($1, 36), $3, $5}'; echo; done
