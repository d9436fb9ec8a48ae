#!/usr/bin/env bash
# Run 25: GCC 13.3 with -Werror (ATTUNE_WERROR=ON): which warnings stop a test build (every arch, the
# examples), keep going. Before the gemm test fix: only -Wfree-nonheap-object in the sse2 and avx2 kernel suites.
R=$(pwd)
cmake -S . -B /tmp/w -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_PREFIX_PATH=$R/.deb/root/usr \
  -DCMAKE_FIND_PACKAGE_PREFER_CONFIG=ON -DATTUNE_WERROR=ON -DATTUNE_UNITY_TESTS=ON -DATTUNE_BUILD_BENCH=OFF \
  -DATTUNE_BUILD_DISTRIBUTED=OFF > /tmp/wc.log 2>&1 || tail -5 /tmp/wc.log
s=$SECONDS; timeout 280 cmake --build /tmp/w -j 16 -- -k > /tmp/wb.log 2>&1; echo "build rc=$? $((SECONDS-s)) s"
grep -E "error:|warning:" /tmp/wb.log | sed -E 's/^.*\/(tests|include|examples)\//\1\//' | sort | uniq -c | sort -rn | head -30
grep -E "^\[|Error " /tmp/wb.log | grep -E "Error" | head -20
