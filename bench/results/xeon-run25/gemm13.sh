#!/usr/bin/env bash
# The gemm test's last-bit difference under GCC 13 (Xeon): gemm_test.cpp alone per arch and flags.
R=$(pwd); I="-I$R/include -I$R/tests -isystem $R/.deb/root/usr/include -isystem $R/.deb/root/usr/include/eigen3"
g++ --version | head -1
g++ -O2 $I -c tests/catch_main.cpp -o /tmp/cm.o &
A512="-mavx512f -mavx512cd -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma -mf16c"
build() { # name arch flags...
  local n=$1 a=$2; shift 2
  g++ -std=c++17 "$@" $I -fopenmp "-DATTUNE_TEST_ARCH=$a" "-DATTUNE_TEST_ARCH_NAME=\"$n\"" -c tests/simd/gemm_test.cpp -o /tmp/g_$n.o
}
build avx512_O2 xsimd::avx512bw -O2 $A512 &
build avx512_O3 xsimd::avx512bw -O3 $A512 &
build avx512_O2_nocontract xsimd::avx512bw -O2 -ffp-contract=off $A512 &
build avx512_O2_fno_unroll xsimd::avx512bw -O2 -fno-unroll-loops $A512 &
build avx2_O2 "xsimd::fma3<xsimd::avx2>" -O2 -mavx2 -mfma -mf16c &
build sse2_O2 xsimd::sse2 -O2 &
build scalar_O2 attune::simd::scalar -O2 &
wait
for n in avx512_O2 avx512_O3 avx512_O2_nocontract avx512_O2_fno_unroll avx2_O2 sse2_O2 scalar_O2; do
  g++ -fopenmp /tmp/cm.o /tmp/g_$n.o -o /tmp/g_$n && echo "== $n: $(/tmp/g_$n 2>&1 | tail -2 | head -1)"
  /tmp/g_$n 2>&1 | grep -B3 -A8 "FAILED" | head -12
done
# The assembly of the blocks under GCC 13 at -O2 (the two instances the failing case compares).
g++ -std=c++17 -O2 $A512 $I -fopenmp -DATTUNE_TEST_ARCH=xsimd::avx512bw -DATTUNE_TEST_ARCH_NAME='"x"' -S tests/simd/gemm_test.cpp -o $OUT/gemm_avx512_O2.s
echo done
