// Run 26's core-sharing probe: a fixed amount of AVX-512 FMA work (12 independent chains, no
// memory traffic) timed on one CPU; run beside a copy on another CPU, it slows down only where the
// two CPUs are hyperthreads of one core (or the host gives one core to both). Prints ns.
#include <immintrin.h>
#include <chrono>
#include <cstdio>
int main() {
    __m512 a[12];
    for (int i = 0; i < 12; ++i) a[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    const auto t0 = std::chrono::steady_clock::now();
    for (long it = 0; it < 40000000; ++it)
        for (int i = 0; i < 12; ++i) a[i] = _mm512_fmadd_ps(a[i], m, c);
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    __m512 s = a[0];
    for (int i = 1; i < 12; ++i) s = _mm512_add_ps(s, a[i]);
    std::printf("%.0f %g\n", ns / 1e6, _mm512_reduce_add_ps(s));
}
