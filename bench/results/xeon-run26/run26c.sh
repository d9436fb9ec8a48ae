#!/usr/bin/env bash
# Run 26c: the final tree against HEAD 301ba6c at 16 threads, beside ggml's own flash-attention
# decode and PyTorch's SDPA (#22): three rounds of [old, new, ggml at Lk 32768, PyTorch on the new
# rows (compare_torch.py)], every ratio taken within its round.
# Needs .deb, .device-in/inc26-old (HEAD's include tree), .device-in/ggml and .device-in/peers.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
build() {  # build <name> <source tree>
  cmake -S $2 -B /tmp/b-$1 -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_BUILD_TESTS=OFF -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
    -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > $OUT/cmake-$1.log 2>&1
  cmake --build /tmp/b-$1 -j 6 --target attune_bench > $OUT/build-$1.log 2>&1 || grep error $OUT/build-$1.log | head
}
mkdir -p /tmp/t-old; tar -C $root --exclude=./.deb --exclude=./.device-in -cf - . | tar -C /tmp/t-old -xf -
rm -rf /tmp/t-old/include; cp -r .device-in/inc26-old/include /tmp/t-old/
date > $OUT/times.txt
(cd .device-in/peers/ggml && cmake -S . -B /tmp/ggml_b -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CPU=ON \
   -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_SRC=$root/.device-in/ggml/ggml_python-0.0.45/vendor/ggml > $OUT/ggml_cmake.log 2>&1 \
   && cmake --build /tmp/ggml_b --target ggml_fa_bench -j 4 > $OUT/ggml_build.log 2>&1) &
build old /tmp/t-old & build new $root & wait
date >> $OUT/times.txt; lscpu > $OUT/lscpu.txt; g++ --version | head -1 > $OUT/gcc.txt
F='^(decode/Lk:32768/D:128/kv:(fp32|bf16)/|quant/decode/Lk:32768/D:128/kv:(int8|q8_0|q4_0)/int8_query/int8_pv/|quant/decode/Lk:32768/D:128/kv:(fp8_e4m3|q8_0|q4_0)/|serving/paged_decode/Lk:32768/D:128/kv:bf16/page:16/nhd/|serving/batch/decode:64(\+prefill:4x512)?/packed/)threads:16/'
export ATTUNE_BENCH_THREADS=16
for i in 1 2 3; do
  for t in old new; do
    timeout 60 /tmp/b-$t/bench/attune_bench --benchmark_filter="$F" --benchmark_min_time=0.2 --benchmark_out=$OUT/${t}_$i.json \
      --benchmark_out_format=json > $OUT/${t}_$i.txt 2>&1 || echo "$t $i rc=$?" >> $OUT/times.txt
  done
  chk=--no-check; [ $i = 1 ] && chk=
  mkdir -p $OUT/ggml_$i
  timeout 60 /tmp/ggml_b/bin/ggml_fa_bench --threads 16 --filter Lk32768 $chk --out $OUT/ggml_$i > $OUT/ggml_$i.txt 2>&1; echo "ggml rc=$?" >> $OUT/ggml_$i.txt
  timeout 120 python3 bench/compare_torch.py $OUT/new_$i.json --json $OUT/torch_$i.json > $OUT/torch_$i.md 2>&1 || echo "torch $i rc=$?" >> $OUT/times.txt
done
date >> $OUT/times.txt
for i in 1 2 3; do for t in old new; do
  echo -n "$t$i: "; grep -E "^(decode|quant|serving)" $OUT/${t}_$i.txt | awk '{printf "%s %s|", $1, $2}' | sed 's|/D:128||g; s|quant/decode/||g; s|/real_time||g; s|/threads:16||g; s|int8_query/int8_pv|iqpv|g'; echo
done; echo -n "ggml$i: "; grep -E "Lk32768" $OUT/ggml_$i.txt | awk '{printf "%s t%s %s|", substr($1, 36), $3, $5}'; echo; done | tee $FINAL/summary.txt
grep -iE "fail|error|mismatch" $OUT/ggml_1.txt | head -3; head -40 $OUT/torch_1.md; cat $OUT/times.txt
