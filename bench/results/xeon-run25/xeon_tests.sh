#!/usr/bin/env bash
# Run 25: GCC 13.3 on the Xeon, the gemm test alone per arch and flags (gemm13.sh), then every avx512
# suite (AMX included, 16 threads) built and run; the golden cases in .device-in/golden.
R=$(pwd)
bash bench/results/xeon-run25/gemm13.sh 2>&1 | grep -E "^== |FAILED|expansion|==.*f$|message|column vectors" | head -40
export ATTUNE_GOLDEN_DIR=$R/.device-in/golden
cmake -S . -B /tmp/b -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_PREFIX_PATH=$R/.deb/root/usr \
  -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON -DATTUNE_TEST_ARCHS=avx512 -DATTUNE_UNITY_TESTS=ON -DATTUNE_BUILD_BENCH=OFF \
  -DATTUNE_BUILD_DISTRIBUTED=OFF > /tmp/cm.log 2>&1 || tail -5 /tmp/cm.log
s=$SECONDS; cmake --build /tmp/b -j 16 > /tmp/bb.log 2>&1; echo "build rc=$? $((SECONDS-s)) s"; grep -E "error" /tmp/bb.log | head -5
ctest --test-dir /tmp/b -j 8 -LE "cmake|headers|long" --timeout 200 2>&1 | tail -15
