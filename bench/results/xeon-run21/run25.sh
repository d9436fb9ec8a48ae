#!/usr/bin/env bash
# Session 8 on the 16-core Xeon, one job: (1) the new paths' tests where only this machine runs them
# (AMX-INT8 for options::int8_qk, VNNI int8_query) and the distributed tests under its MPI;
# (2) #26: cp_bench strong scaling 1x16 / 2x8 / 4x4 (zig-zag, and contiguous), decode over 4 shards;
# (3) #22: prefill bf16 vs int8qk rows, PyTorch bf16 SDPA on the same rows; quantized decode rows
# around ggml's q8_0/q4_0 flash attention. Everything lands in $OUT as it is produced.
set -uo pipefail
root=$(pwd)
source .device-in/mpi/env.sh
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
lscpu > $OUT/lscpu.txt; nproc >> $OUT/lscpu.txt
t0=$SECONDS; stamp() { echo "$(( SECONDS - t0 ))s $*" >> $OUT/timeline.txt; }
cmake -S . -B build-x -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_TEST_ARCHS=avx512 -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
  -DATTUNE_BUILD_EXAMPLES=ON -DATTUNE_BUILD_DISTRIBUTED=ON -DMPI_CXX_COMPILER=$R/usr/bin/mpicxx.openmpi -DMPIEXEC_EXECUTABLE=$MPIRUN \
  > $OUT/cmake.log 2>&1 || tail -30 $OUT/cmake.log
(cd .device-in/peers/ggml && timeout 200 cmake -S . -B /tmp/ggml_b -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CPU=ON \
   -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_SRC=$root/.device-in/ggml/ggml_python-0.0.45/vendor/ggml > $OUT/ggml_cmake.log 2>&1 \
   && timeout 250 cmake --build /tmp/ggml_b --target ggml_fa_bench -j 4 > $OUT/ggml_build.log 2>&1) &
gpid=$!
cmake --build build-x -j 14 --target attune_bench cp_bench attune_distributed_tests attune_int8_qk_tests_avx512 attune_quant_vnni_tests attune_int8_qk \
  > $OUT/build.log 2>&1 || { grep -E "error" $OUT/build.log | head -20; }
stamp built
# (1) tests
build-x/tests/attune_int8_qk_tests_avx512 -s "[int8_qk]" 2>&1 | grep -E "worst|SKIPPED|amx|passed|failed|FAILED" | sort | uniq -c | head -30 > $OUT/t_int8qk.txt
build-x/tests/attune_int8_qk_tests_avx512 > $OUT/t_int8qk_full.txt 2>&1; echo "rc=$?" >> $OUT/t_int8qk_full.txt
build-x/tests/attune_quant_vnni_tests > $OUT/t_vnni.txt 2>&1; echo "rc=$?" >> $OUT/t_vnni.txt
build-x/examples/attune_int8_qk > $OUT/ex_int8qk.txt 2>&1; echo "rc=$?" >> $OUT/ex_int8qk.txt
ctest --test-dir build-x -L distributed --output-on-failure > $OUT/t_distributed.txt 2>&1
stamp tests
# (2) #26 strong scaling
B=build-x/bench/distributed/cp_bench
OMP="-x OMP_PROC_BIND=close -x OMP_PLACES=cores"
cpb() { local np=$1 th=$2; shift 2; local f=$OUT/cp_$1_np${np}.txt; shift;
  if [ "$np" = 1 ]; then timeout 150 $MPIRUN --allow-run-as-root -np 1 --bind-to none -x OMP_NUM_THREADS=$th $OMP $B --threads $th "$@" > $f 2>&1
  else timeout 150 $MPIRUN --allow-run-as-root -np $np --map-by slot:PE=$th --bind-to core -x OMP_NUM_THREADS=$th $OMP $B --threads $th "$@" > $f 2>&1 \
    || timeout 150 $MPIRUN --allow-run-as-root -np $np --bind-to none -x OMP_NUM_THREADS=$th $OMP $B --threads $th "$@" > $f.nobind 2>&1; fi
  stamp "cp $np x $th $*"; }
PF="--L 65536 --D 128 --H 8 --Hkv 8 --causal --reps 2"
cpb 1 16 prefill $PF
cpb 4 4 prefill $PF --layout zigzag
cpb 2 8 prefill $PF --layout zigzag
cpb 4 4 prefill_contig --L 65536 --D 128 --H 8 --Hkv 8 --causal --reps 1 --layout contiguous
cpb 4 4 decode --decode --Lk 1048576 --D 128 --H 8 --Hkv 8 --reps 20
cpb 1 16 decode --decode --Lk 1048576 --D 128 --H 8 --Hkv 8 --reps 20
# (3) #22 rows
export ATTUNE_BENCH_THREADS=1,16
PFILT='^prefill/causal/L:2048/D:128/bf16(/out:bf16)?(/int8qk)?/threads:(1|16)/'
QFILT='^(decode/Lk:32768/D:128/kv:bf16/|quant/decode/Lk:32768/D:128/kv:(int8|q8_0|q4_0|fp8_e4m3)(/int8_query)?/)threads:(1|16)/'
for i in 1 2 3; do timeout 60 build-x/bench/attune_bench --benchmark_filter="$PFILT" --benchmark_min_time=0.3 --benchmark_out=$OUT/pf_$i.json --benchmark_out_format=json > $OUT/pf_$i.txt 2>&1; done
stamp prefill rows
timeout 90 python3 bench/compare_torch.py $OUT/pf_1.json --json $OUT/torch_pf.json > $OUT/torch_pf.txt 2>&1
stamp torch
timeout 60 build-x/bench/attune_bench --benchmark_filter="$QFILT" --benchmark_min_time=0.3 --benchmark_out=$OUT/q_1.json --benchmark_out_format=json > $OUT/q_1.txt 2>&1
wait $gpid; stamp ggml built
timeout 60 /tmp/ggml_b/bin/ggml_fa_bench --threads 1,16 --filter decode/ --out $OUT/ggml > $OUT/ggml.txt 2>&1; echo "ggml rc=$?" >> $OUT/ggml.txt
timeout 60 build-x/bench/attune_bench --benchmark_filter="$QFILT" --benchmark_min_time=0.3 --benchmark_out=$OUT/q_2.json --benchmark_out_format=json > $OUT/q_2.txt 2>&1
stamp quant rows
cat $OUT/timeline.txt; tail -3 $OUT/t_int8qk_full.txt; tail -3 $OUT/t_vnni.txt; tail -5 $OUT/t_distributed.txt
grep -E "^(prefill)" $OUT/pf_1.txt | head; grep -E "^(quant|decode)" $OUT/q_1.txt | head -30; grep -h "time\|max/mean\|tok\|slowest" $OUT/cp_*.txt | head -40
