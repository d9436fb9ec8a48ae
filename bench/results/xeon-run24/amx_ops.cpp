// AMX throughput on this machine: ns per instruction for dp chains, tile loads from L1/L2, mixes.
#include <attune/attune.hpp>
#include <immintrin.h>
#include <chrono>
#include <cstdio>
#include <vector>
#include <algorithm>
using namespace attune;
template <class F>
double ns(F f, long n) {
    double best = 1e30;
    for (int k = 0; k < 5; ++k) {
        auto t0 = std::chrono::steady_clock::now();
        f();
        best = std::min(best, std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n);
    }
    return best;
}
int main() {
    simd::amx_supported();
    simd::amx::configure();
    std::vector<std::uint8_t> buf(8 << 20, 1);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = std::uint8_t(i * 7 % 61 + 60);  // bf16 values ~ moderate
    alignas(64) static float out[16 * 16 * 4];
    const long N = 200000;
    _tile_loadd(4, buf.data(), 64);
    _tile_loadd(5, buf.data() + 1024, 64);
    _tile_loadd(6, buf.data() + 2048, 64);
    _tile_loadd(7, buf.data() + 3072, 64);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    std::printf("dp 1 chain        %.2f ns/dp\n", ns(
                                                      [&] {
                                                          for (long i = 0; i < N; ++i) _tile_dpbf16ps(0, 4, 6);
                                                      },
                                                      N));
    std::printf("dp 2 chains       %.2f ns/dp\n", ns(
                                                      [&] {
                                                          for (long i = 0; i < N; i += 2) {
                                                              _tile_dpbf16ps(0, 4, 6);
                                                              _tile_dpbf16ps(1, 4, 7);
                                                          }
                                                      },
                                                      N));
    std::printf("dp 4 chains       %.2f ns/dp\n", ns(
                                                      [&] {
                                                          for (long i = 0; i < N; i += 4) {
                                                              _tile_dpbf16ps(0, 4, 6);
                                                              _tile_dpbf16ps(1, 4, 7);
                                                              _tile_dpbf16ps(2, 5, 6);
                                                              _tile_dpbf16ps(3, 5, 7);
                                                          }
                                                      },
                                                      N));
    const std::uint8_t* b = buf.data();
    std::printf("load 1KB L1       %.2f ns/load\n", ns(
                                                        [&] {
                                                            for (long i = 0; i < N; ++i) _tile_loadd(4, b, 64);
                                                        },
                                                        N));
    std::printf("load 16KB rot L1  %.2f ns/load\n", ns(
                                                        [&] {
                                                            for (long i = 0; i < N; ++i) _tile_loadd(4, b + (i & 15) * 1024, 64);
                                                        },
                                                        N));
    std::printf("load 16KB str256  %.2f ns/load\n", ns(
                                                        [&] {
                                                            for (long i = 0; i < N; ++i) _tile_loadd(4, b + (i & 3) * 64, 256);
                                                        },
                                                        N));
    std::printf("load 512KB L2     %.2f ns/load\n", ns(
                                                        [&] {
                                                            for (long i = 0; i < N; ++i) _tile_loadd(4, b + (i & 511) * 1024, 64);
                                                        },
                                                        N));
    std::printf("load 4MB L3       %.2f ns/load\n", ns(
                                                        [&] {
                                                            for (long i = 0; i < N; ++i) _tile_loadd(4, b + (i & 4095) * 1024, 64);
                                                        },
                                                        N));
    std::printf("load+dp 4 chains (A,B per dp pair, L1) %.2f ns/dp\n", ns(
                                                                           [&] {
                                                                               for (long i = 0; i < N; i += 4) {
                                                                                   const std::uint8_t* p = b + (i & 7) * 4096;
                                                                                   _tile_loadd(4, p, 64);
                                                                                   _tile_loadd(6, p + 1024, 64);
                                                                                   _tile_dpbf16ps(0, 4, 6);
                                                                                   _tile_loadd(7, p + 2048, 64);
                                                                                   _tile_dpbf16ps(1, 4, 7);
                                                                                   _tile_loadd(5, p + 3072, 64);
                                                                                   _tile_dpbf16ps(2, 5, 6);
                                                                                   _tile_dpbf16ps(3, 5, 7);
                                                                               }
                                                                           },
                                                                           N));
    std::printf("load+dp 2 chains score_v0-like (L1) %.2f ns/dp\n", ns(
                                                                        [&] {
                                                                            for (long i = 0; i < N; i += 2) {
                                                                                const std::uint8_t* p = b + (i & 7) * 4096;
                                                                                _tile_loadd(4, p, 64);
                                                                                _tile_loadd(6, p + 1024, 64);
                                                                                _tile_dpbf16ps(0, 4, 6);
                                                                                _tile_loadd(7, p + 2048, 64);
                                                                                _tile_dpbf16ps(1, 4, 7);
                                                                            }
                                                                        },
                                                                        N));
    std::printf("store 1KB         %.2f ns/store\n", ns(
                                                         [&] {
                                                             for (long i = 0; i < N; ++i) _tile_stored(0, out, 64);
                                                         },
                                                         N));
    std::printf("zero+4dp+store 1 chain %.2f ns/dp\n", ns(
                                                           [&] {
                                                               for (long i = 0; i < N; i += 4) {
                                                                   _tile_zero(0);
                                                                   for (int k = 0; k < 4; ++k) _tile_dpbf16ps(0, 4, 6);
                                                                   _tile_stored(0, out, 64);
                                                               }
                                                           },
                                                           N));
    std::printf("store + avx reload %.2f ns/iter\n", ns(
                                                         [&] {
                                                             __m512 s = _mm512_setzero_ps();
                                                             for (long i = 0; i < N / 16; ++i) {
                                                                 _tile_stored(0, out, 64);
                                                                 for (int r = 0; r < 16; ++r)
                                                                     s = _mm512_add_ps(s, _mm512_load_ps(out + 16 * r));
                                                             }
                                                             asm volatile("" ::"v"(s));
                                                         },
                                                         N / 16));

    std::printf("load rot 4 tiles  %.2f ns/load\n", ns(
                                                        [&] {
                                                            for (long i = 0; i < N; i += 4) {
                                                                _tile_loadd(4, b, 64);
                                                                _tile_loadd(5, b + 1024, 64);
                                                                _tile_loadd(6, b + 2048, 64);
                                                                _tile_loadd(7, b + 3072, 64);
                                                            }
                                                        },
                                                        N));
    std::printf("load rot 8 tiles  %.2f ns/load\n", ns(
                                                        [&] {
                                                            for (long i = 0; i < N; i += 8) {
                                                                _tile_loadd(0, b, 64);
                                                                _tile_loadd(1, b + 1024, 64);
                                                                _tile_loadd(2, b + 2048, 64);
                                                                _tile_loadd(3, b + 3072, 64);
                                                                _tile_loadd(4, b + 4096, 64);
                                                                _tile_loadd(5, b + 5120, 64);
                                                                _tile_loadd(6, b + 6144, 64);
                                                                _tile_loadd(7, b + 7168, 64);
                                                            }
                                                        },
                                                        N));
    std::printf("load rot 4 tiles 32B rows (colsb 64, stride 128) %.2f ns/load\n", ns(
                                                                                       [&] {
                                                                                           for (long i = 0; i < N; i += 4) {
                                                                                               _tile_loadd(4, b, 128);
                                                                                               _tile_loadd(5, b + 2048, 128);
                                                                                               _tile_loadd(6, b + 4096, 128);
                                                                                               _tile_loadd(7, b + 6144, 128);
                                                                                           }
                                                                                       },
                                                                                       N));
    std::printf("store rot 4 tiles %.2f ns/store\n", ns(
                                                         [&] {
                                                             for (long i = 0; i < N; i += 4) {
                                                                 _tile_stored(0, out, 64);
                                                                 _tile_stored(1, out + 256, 64);
                                                                 _tile_stored(2, out + 512, 64);
                                                                 _tile_stored(3, out + 768, 64);
                                                             }
                                                         },
                                                         N));
    _tile_loadd(4, buf.data(), 64);
    _tile_loadd(5, buf.data() + 1024, 64);
    _tile_loadd(6, buf.data() + 2048, 64);
    _tile_loadd(7, buf.data() + 3072, 64);
    std::printf("dp 4 chains + load into tile 0..3 before zero? n/a\n");
    std::printf("1 load (tile 7) per 3 dp (0,1,2 from 4,5,6) %.2f ns/dp\n", ns(
                                                                                [&] {
                                                                                    for (long i = 0; i < N; i += 3) {
                                                                                        _tile_loadd(7, b + (i & 7) * 1024, 64);
                                                                                        _tile_dpbf16ps(0, 4, 6);
                                                                                        _tile_dpbf16ps(1, 5, 6);
                                                                                        _tile_dpbf16ps(2, 4, 5);
                                                                                    }
                                                                                },
                                                                                N));
    std::printf("1 load (tile 7) per 1 dp (0 from 4,6)        %.2f ns/dp\n", ns(
                                                                                 [&] {
                                                                                     for (long i = 0; i < N; ++i) {
                                                                                         _tile_loadd(7, b + (i & 7) * 1024, 64);
                                                                                         _tile_dpbf16ps(0, 4, 6);
                                                                                     }
                                                                                 },
                                                                                 N));
    std::printf("load tile 7 then dp reading 7, 2 chains       %.2f ns/dp\n", ns(
                                                                                  [&] {
                                                                                      for (long i = 0; i < N; i += 2) {
                                                                                          _tile_loadd(7, b + (i & 7) * 1024, 64);
                                                                                          _tile_dpbf16ps(0, 4, 7);
                                                                                          _tile_loadd(6, b + (i & 7) * 1024 + 512, 64);
                                                                                          _tile_dpbf16ps(1, 4, 6);
                                                                                      }
                                                                                  },
                                                                                  N));
    // plain AVX-512 FMA peak for the clock under AMX use
    std::printf("avx512 fma 8 chains %.3f ns/fma\n", ns(
                                                         [&] {
                                                             __m512 a[8];
                                                             for (auto& x : a) x = _mm512_set1_ps(1.0f);
                                                             const __m512 m = _mm512_set1_ps(0.999f), c = _mm512_set1_ps(0.001f);
                                                             for (long i = 0; i < N; i += 8)
                                                                 for (auto& x : a) x = _mm512_fmadd_ps(x, m, c);
                                                             for (auto& x : a) asm volatile("" ::"v"(x));
                                                         },
                                                         N));
    simd::amx::release();
}
