#!/usr/bin/env bash
# Run 24, job 9 (#22): the vectorised bf16/half epilogue (simd::store of 16-bit types) against the
# code before it (inc-old: `git archive 6bf4ad7 include`), bf16 prefill at 1 and 16 threads,
# alternated with PyTorch's bf16 SDPA, five rounds; then the avx512 test suites that take the AMX
# paths on this CPU (Catch2 from .deb: scripts/fetch_debs.sh).
# With .deb and .device-in carried: bash bench/results/xeon-run24/run_epilogue.sh
set -u
R=$(pwd); cd bench/results/xeon-run24
E="-isystem $R/.deb/root/usr/include/eigen3 -isystem $R/.deb/root/usr/include"
F="-std=c++17 -O2 -march=native -fopenmp"
g++ $F -I$R/include $E ab_prefill.cpp -o /tmp/ab_new &
g++ $F -I$R/.device-in/amxab/inc-old $E ab_prefill.cpp -o /tmp/ab_old &
cmake -S $R -B /tmp/b -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_PREFIX_PATH=$R/.deb/root/usr \
  -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON -DATTUNE_TEST_ARCHS=avx512 -DATTUNE_UNITY_TESTS=ON -DATTUNE_BUILD_BENCH=OFF \
  -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > /tmp/cmake.log 2>&1 || tail -20 /tmp/cmake.log
wait
for i in 1 2 3 4 5; do /tmp/ab_old old; /tmp/ab_new new; python3 torch_prefill.py; done
cmake --build /tmp/b -j 16 --target attune_kernel_tests_avx512 attune_int8_qk_tests_avx512 attune_quant_tests_avx512 > /tmp/build.log 2>&1
echo "tests built rc=$?"; grep -E "error" /tmp/build.log | head
for t in "attune_kernel_tests_avx512 [simd]" "attune_kernel_tests_avx512 [attention]" "attune_kernel_tests_avx512 [variants]" \
         "attune_int8_qk_tests_avx512" "attune_quant_tests_avx512"; do
  set -- $t; echo "== $t: $(/tmp/b/tests/$1 ${2:-} 2>&1 | tail -2 | head -1)"
done
/tmp/b/tests/attune_kernel_tests_avx512 "[simd]" -s 2>&1 | grep -c "AMX path not active"
