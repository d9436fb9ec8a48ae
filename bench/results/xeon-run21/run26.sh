#!/usr/bin/env bash
# Second Xeon job of session 8: the failures' full output (int8_qk on AMX-INT8, the VNNI binary,
# example.context_parallel), lscpu; then the quantized decode rows of the final code around ggml's
# q8_0/q4_0 decode, and the bf16 prefill rows beside PyTorch's SDPA. All output in one tarball.
set -uo pipefail
root=$(pwd); FINAL=$OUT; OUT=/tmp/r; mkdir -p $OUT
source .device-in/mpi/env.sh
export PMIX_MCA_pcompress=^zlib
P="-DCMAKE_PREFIX_PATH=$root/.deb/root/usr -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON"
trap 'tar czf $FINAL/all.tgz -C /tmp r' EXIT
lscpu > $OUT/lscpu.txt
cmake -S . -B build-x -DCMAKE_BUILD_TYPE=Release $P -DATTUNE_TEST_ARCHS=avx512 -DATTUNE_BUILD_BENCH=ON -DATTUNE_BENCH_NATIVE=ON \
  -DATTUNE_BUILD_EXAMPLES=ON -DATTUNE_BUILD_DISTRIBUTED=ON -DMPI_CXX_COMPILER=$R/usr/bin/mpicxx.openmpi -DMPIEXEC_EXECUTABLE=$MPIRUN > $OUT/cmake.log 2>&1
(cd .device-in/peers/ggml && cmake -S . -B /tmp/ggml_b -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_CPU=ON \
   -DGGML_BUILD_TESTS=OFF -DGGML_BUILD_EXAMPLES=OFF -DGGML_SRC=$root/.device-in/ggml/ggml_python-0.0.45/vendor/ggml > $OUT/ggml_cmake.log 2>&1 \
   && cmake --build /tmp/ggml_b --target ggml_fa_bench -j 4 > $OUT/ggml_build.log 2>&1) &
gpid=$!
cmake --build build-x -j 12 --target attune_int8_qk_tests_avx512 attune_quant_vnni_tests attune_context_parallel attune_bench > $OUT/build.log 2>&1 || grep error $OUT/build.log | head
build-x/tests/attune_int8_qk_tests_avx512 > $OUT/t_int8qk.txt 2>&1; echo "rc=$?" >> $OUT/t_int8qk.txt
build-x/tests/attune_quant_vnni_tests > $OUT/t_vnni.txt 2>&1; echo "rc=$?" >> $OUT/t_vnni.txt
ctest --test-dir build-x -R example.context_parallel -V > $OUT/t_example_cp.txt 2>&1
for np in 2 4; do timeout 60 $MPIRUN --allow-run-as-root -np $np --bind-to none -x OMP_NUM_THREADS=2 build-x/examples/distributed/attune_context_parallel > $OUT/ex_cp_np$np.txt 2>&1; echo "rc=$?" >> $OUT/ex_cp_np$np.txt; done
find build-x -name attune_context_parallel -type f >> $OUT/ex_cp_np2.txt
export ATTUNE_BENCH_THREADS=1,16
QFILT='^(decode/Lk:32768/D:128/kv:bf16/|quant/decode/Lk:32768/D:128/kv:(int8|q8_0|q4_0)(/int8_query)?/)threads:(1|16)/'
timeout 60 build-x/bench/attune_bench --benchmark_filter="$QFILT" --benchmark_min_time=0.3 --benchmark_out=$OUT/q_1.json --benchmark_out_format=json > $OUT/q_1.txt 2>&1
wait $gpid
timeout 70 /tmp/ggml_b/bin/ggml_fa_bench --threads 1,16 --filter decode/ --out $OUT/ggml > $OUT/ggml.txt 2>&1; echo "ggml rc=$?" >> $OUT/ggml.txt
timeout 60 build-x/bench/attune_bench --benchmark_filter="$QFILT" --benchmark_min_time=0.3 --benchmark_out=$OUT/q_2.json --benchmark_out_format=json > $OUT/q_2.txt 2>&1
PFILT='^prefill/causal/L:2048/D:128/bf16(/out:bf16)?(/int8qk)?/threads:(1|16)/'
timeout 40 build-x/bench/attune_bench --benchmark_filter="$PFILT" --benchmark_min_time=0.3 --benchmark_out=$OUT/pf.json --benchmark_out_format=json > $OUT/pf.txt 2>&1
timeout 90 python3 bench/compare_torch.py $OUT/pf.json > $OUT/torch_pf.txt 2>&1
grep -B3 -A15 "FAILED" $OUT/t_int8qk.txt | head -40; tail -2 $OUT/t_vnni.txt; tail -15 $OUT/ex_cp_np2.txt; tail -25 $OUT/torch_pf.txt; grep -E "q8_0|q4_0|bf16" $OUT/ggml.txt | head
