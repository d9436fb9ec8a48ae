#!/usr/bin/env bash
# Run 25: gemm_test.cpp alone with GCC 13.3, -O2 -Wall -Wextra -Werror, per arch, then run.
R=$(pwd); I="-I$R/include -I$R/tests -isystem $R/.deb/root/usr/include -isystem $R/.deb/root/usr/include/eigen3"
g++ -O2 $I -c tests/catch_main.cpp -o /tmp/cm.o &
b() { n=$1; a=$2; shift 2; g++ -std=c++17 -O2 -Wall -Wextra -Werror "$@" $I -fopenmp "-DATTUNE_TEST_ARCH=$a" "-DATTUNE_TEST_ARCH_NAME=\"$n\"" -c tests/simd/gemm_test.cpp -o /tmp/g_$n.o > /tmp/w_$n.log 2>&1; echo "$n compile rc=$? $(grep -c error /tmp/w_$n.log) errors"; }
b sse2 xsimd::sse2 &
b avx2 "xsimd::fma3<xsimd::avx2>" -mavx2 -mfma -mf16c &
b avx512 xsimd::avx512bw -mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mf16c &
b scalar attune::simd::scalar &
wait
for n in sse2 avx2 avx512 scalar; do g++ -fopenmp /tmp/cm.o /tmp/g_$n.o -o /tmp/g_$n 2>/dev/null && echo "$n: $(/tmp/g_$n | tail -2 | head -1)"; done
