#!/usr/bin/env bash
# Run 24, job 10 (#22): the avx512 quant and kernel suites of 6bf4ad7 (the tree before this
# session, `git archive 6bf4ad7` unpacked in .device-in/old-tree; the golden cases in
# .device-in/golden), to see whether job 9's failures are new. Output: tests_job10.txt.
set -u
R=$(pwd)
export ATTUNE_GOLDEN_DIR=$R/.device-in/golden
echo "== new tree, golden dir given:"
for t in attune_quant_tests_avx512 attune_int8_qk_tests_avx512; do echo "$t: $(/tmp/b/tests/$t 2>&1 | tail -2 | head -1)"; done
/tmp/b/tests/attune_quant_tests_avx512 2>&1 | grep -A3 "FAILED" | grep -E "FAILED|with|diff" | head -8
cmake -S .device-in/old-tree -B /tmp/bo -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_PREFIX_PATH=$R/.deb/root/usr \
  -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON -DATTUNE_TEST_ARCHS=avx512 -DATTUNE_UNITY_TESTS=ON -DATTUNE_BUILD_BENCH=OFF \
  -DATTUNE_BUILD_EXAMPLES=OFF -DATTUNE_BUILD_DISTRIBUTED=OFF > /tmp/cmo.log 2>&1 || tail -5 /tmp/cmo.log
timeout 330 cmake --build /tmp/bo -j 16 --target attune_quant_tests_avx512 attune_kernel_tests_avx512 > /tmp/bo.log 2>&1; echo "old built rc=$?"
echo "== old tree (HEAD 6bf4ad7):"
/tmp/bo/tests/attune_quant_tests_avx512 2>&1 | grep -A3 "FAILED" | grep -E "FAILED|with|diff" | head -8
/tmp/bo/tests/attune_quant_tests_avx512 2>&1 | tail -2 | head -1
/tmp/bo/tests/attune_kernel_tests_avx512 "[gemm]" 2>&1 | tail -2 | head -1
