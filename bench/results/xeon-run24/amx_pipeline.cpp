// Run 24's experiment harness (#22): the library's AMX bf16 prefill (causal, H 8, L 2048, D 128,
// bf16 in and out, one thread) re-implemented with a switch for each part and each variant tried,
// timed beside attune::attention in the same process, every output checked against float64.
// -DMOCK: the tile instructions emulated in C (checks the variants anywhere); -DNOOP: removed (times
// the vector work alone on any AVX-512 CPU). run_pipeline.sh runs it; the variant list is job 8's.
#include <algorithm>
#include <attune/attune.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <immintrin.h>
#include <random>
#include <vector>
using namespace attune;
using u16 = std::uint16_t;
using u32 = std::uint32_t;
constexpr int L = 2048, D = 128, H = 8, QT = 64, KT = 64;

#ifdef NOOP
#define TLOAD(t, p, s) asm volatile("" ::"r"(p), "r"(s) : "memory")
#define TSTORE(t, p, s) asm volatile("" ::"r"(p), "r"(s) : "memory")
#define TZERO(t) ((void)0)
#define TDP(c, a, b) ((void)0)
static void CONFIG() {}
static void RELEASE() {}
#elif defined(MOCK)
alignas(64) static unsigned char tiles[8][16 * 64];
static void TLOAD(int t, const void* p, long s) {
    for (int i = 0; i < 16; ++i) std::memcpy(tiles[t] + 64 * i, (const char*)p + i * s, 64);
}
static void TSTORE(int t, void* p, long s) {
    for (int i = 0; i < 16; ++i) std::memcpy((char*)p + i * s, tiles[t] + 64 * i, 64);
}
static void TZERO(int t) { std::memset(tiles[t], 0, sizeof tiles[t]); }
static float bf(u16 x) {
    u32 u = u32(x) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static void TDP(int c, int a, int b) {
    float* C = (float*)tiles[c];
    const u16* A = (const u16*)tiles[a];
    const u16* B = (const u16*)tiles[b];
    for (int m = 0; m < 16; ++m)
        for (int n = 0; n < 16; ++n) {
            float s = C[m * 16 + n];
            for (int k = 0; k < 16; ++k)
                s += bf(A[m * 32 + 2 * k]) * bf(B[k * 32 + 2 * n]) + bf(A[m * 32 + 2 * k + 1]) * bf(B[k * 32 + 2 * n + 1]);
            C[m * 16 + n] = s;
        }
}
static void CONFIG() {}
static void RELEASE() {}
#else
#define TLOAD(t, p, s) _tile_loadd(t, p, s)
#define TSTORE(t, p, s) _tile_stored(t, p, s)
#define TZERO(t) _tile_zero(t)
#define TDP(c, a, b) _tile_dpbf16ps(c, a, b)
static void CONFIG() { simd::amx::configure(); }
static void RELEASE() { simd::amx::release(); }
#endif

static float bf2f(u16 x) {
    u32 u = u32(x) << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}
static u16 f2bf(float f) {
    u32 u;
    std::memcpy(&u, &f, 4);
    u += 0x7fff + ((u >> 16) & 1);
    return u16(u >> 16);
}

struct opts {
    int score = 0;
    bool ilv = false;
    bool fold_scale = false;
    int pack = 0;
    bool prepack_v = false;
    bool pipe = false;
    const char* name;
    bool amx = true, avx = true;
    bool do_scores = true, do_pv = true, pv_zero_c = false;
    int pv_keys = 64;  // keys of weights held before one P·V (64: every tile)
};

// ---- scores
static void scale_pass(float* S, int nk, int rp, float scale) {
    const __m512 sc = _mm512_set1_ps(scale);
    for (int i = 0; i < nk * rp; i += 16) _mm512_store_ps(S + i, _mm512_mul_ps(_mm512_load_ps(S + i), sc));
}
static void score_v0(const u16* K, int nk, const u32* qp, int rp, float scale, float* S, bool do_scale) {
    const long ab = D * 2, bb = rp * 4;
    for (int n0 = 0; n0 < nk; n0 += 16)
        for (int r0 = 0; r0 < rp; r0 += 32) {
            TZERO(0);
            TZERO(1);
            for (int d0 = 0; d0 < D; d0 += 32) {
                TLOAD(4, K + n0 * D + d0, ab);
                TLOAD(6, qp + (d0 / 2) * rp + r0, bb);
                TDP(0, 4, 6);
                TLOAD(7, qp + (d0 / 2) * rp + r0 + 16, bb);
                TDP(1, 4, 7);
            }
            float* out = S + n0 * rp + r0;
            TSTORE(0, out, bb);
            TSTORE(1, out + 16, bb);
            if (do_scale) {
                const __m512 sc = _mm512_set1_ps(scale);
                for (int i = 0; i < 16; ++i) {
                    _mm512_storeu_ps(out + i * rp, _mm512_mul_ps(_mm512_loadu_ps(out + i * rp), sc));
                    _mm512_storeu_ps(out + i * rp + 16, _mm512_mul_ps(_mm512_loadu_ps(out + i * rp + 16), sc));
                }
            }
        }
}
static void score_v1(const u16* K, int nk, const u32* qp, int rp,
                     float* S) {  // 2 key blocks x 2 row blocks
    const long ab = D * 2, bb = rp * 4;
    for (int n0 = 0; n0 < nk; n0 += 32)
        for (int r0 = 0; r0 < rp; r0 += 32) {
            TZERO(0);
            TZERO(1);
            TZERO(2);
            TZERO(3);
            for (int d0 = 0; d0 < D; d0 += 32) {
                TLOAD(4, K + n0 * D + d0, ab);
                TLOAD(6, qp + (d0 / 2) * rp + r0, bb);
                TDP(0, 4, 6);
                TLOAD(7, qp + (d0 / 2) * rp + r0 + 16, bb);
                TDP(1, 4, 7);
                TLOAD(5, K + (n0 + 16) * D + d0, ab);
                TDP(2, 5, 6);
                TDP(3, 5, 7);
            }
            float* out = S + n0 * rp + r0;
            TSTORE(0, out, bb);
            TSTORE(1, out + 16, bb);
            TSTORE(2, out + 16 * rp, bb);
            TSTORE(3, out + 16 * rp + 16, bb);
        }
}

// ---- softmax
static void rescale_acc(float* acc, const float* alpha, int rp) {
    for (int r = 0; r < rp; ++r) {
        if (alpha[r] == 1.0f) continue;
        const __m512 a = _mm512_set1_ps(alpha[r]);
        for (int c = 0; c < D; c += 16) _mm512_store_ps(acc + r * D + c, _mm512_mul_ps(_mm512_load_ps(acc + r * D + c), a));
    }
}
static bool softmax_lib(float* S, int nk, int rp, float* m, float* l, float* alpha) {
    return softmax::update_tile<xsimd::avx512bw>(S, nk, rp, m, l, alpha, rp);
}
// scores unscaled; p = 2^(s·τ·log2e − m·log2e): one FMA, exp2 by Cephes's exp2f
// polynomial.
static bool softmax_x2(float* S, int nk, int rp, float scale, float* m, float* l, float* alpha) {
    bool rescale = false;
    const __m512 c = _mm512_set1_ps(scale * 1.44269504088896341f), lo = _mm512_set1_ps(-125.0f);
    for (int r = 0; r < rp; r += 16) {
        __m512 mx[4] = {_mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY)};
        int n = 0;
        for (; n + 4 <= nk; n += 4)
            for (int k = 0; k < 4; ++k) mx[k] = _mm512_max_ps(mx[k], _mm512_load_ps(S + (n + k) * rp + r));
        for (; n < nk; ++n) mx[0] = _mm512_max_ps(mx[0], _mm512_load_ps(S + n * rp + r));
        const __m512 tmax = _mm512_mul_ps(_mm512_max_ps(_mm512_max_ps(mx[0], mx[1]), _mm512_max_ps(mx[2], mx[3])), _mm512_set1_ps(scale));
        const __m512 m_old = _mm512_load_ps(m + r);
        __m512 m_new = m_old;
        if (_mm512_cmp_ps_mask(tmax, _mm512_add_ps(m_old, _mm512_set1_ps(8.0f)), _CMP_NLE_UQ)) {
            m_new = _mm512_max_ps(m_old, tmax);
            rescale = true;
        }
        const __mmask16 ninf = _mm512_cmp_ps_mask(m_new, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ);
        const __m512 m_ref = _mm512_mask_mov_ps(m_new, ninf, _mm512_setzero_ps());
        alignas(64) float mo[16], mr[16], a[16];
        _mm512_store_ps(mo, m_old);
        _mm512_store_ps(mr, m_ref);
        for (int i = 0; i < 16; ++i) a[i] = mo[i] == -INFINITY ? 0.0f : std::exp(mo[i] - mr[i]);
        const __m512 mb = _mm512_mul_ps(m_ref, _mm512_set1_ps(-1.44269504088896341f));
        __m512 sum = _mm512_setzero_ps(), sum2 = _mm512_setzero_ps();
        for (int k = 0; k < nk; ++k) {
            float* s = S + k * rp + r;
            const __m512 x = _mm512_fmadd_ps(_mm512_load_ps(s), c, mb);
            const __m512 nn = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            const __m512 f = _mm512_sub_ps(x, nn);
            __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
            p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
            p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
            p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
            p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
            p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
            p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
            const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);
            const __m512 y = _mm512_maskz_scalef_ps(keep, p, nn);
            _mm512_store_ps(s, y);
            if (k & 1) sum2 = _mm512_add_ps(sum2, y);
            else sum = _mm512_add_ps(sum, y);
        }
        _mm512_store_ps(l + r, _mm512_fmadd_ps(_mm512_load_ps(l + r), _mm512_load_ps(a), _mm512_add_ps(sum, sum2)));
        _mm512_store_ps(m + r, m_new);
        _mm512_store_ps(alpha + r, _mm512_load_ps(a));
    }
    return rescale;
}

// ---- weights
static __m512i round_hi(__m512 x) {
    const __m512i bits = _mm512_castps_si512(x);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_add_epi32(_mm512_add_epi32(bits, _mm512_set1_epi32(0x7fff)), lsb);
    return _mm512_mask_mov_epi32(rounded, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), _mm512_set1_epi32(0x7fc00000));
}
static void pack_w_lib(const float* s, int rp, int nk, u16* pb) {
    const int nk32 = (nk + 31) / 32 * 32;
    const __m512 zero = _mm512_setzero_ps();
    const __m512i high = _mm512_set1_epi32(int(0xffff0000u));
    for (int r0 = 0; r0 < rp; r0 += 16)
        for (int n0 = 0; n0 < nk32; n0 += 32) {
            __m512i pairs[16];
            for (int i = 0; i < 16; ++i) {
                const int n = n0 + 2 * i;
                const __m512i even = round_hi(n < nk ? _mm512_loadu_ps(s + n * rp + r0) : zero);
                const __m512i odd = round_hi(n + 1 < nk ? _mm512_loadu_ps(s + (n + 1) * rp + r0) : zero);
                pairs[i] = _mm512_ternarylogic_epi32(odd, high, _mm512_srli_epi32(even, 16), 0xea);
            }
            simd::transpose_16x16(pairs);
            for (int r = 0; r < 16; ++r) _mm512_storeu_si512(pb + (r0 + r) * 64 + n0, pairs[r]);
        }
}
__attribute__((target("avx512bf16"))) static void pack_w_cvt(const float* s, int rp, int nk, u16* pb, int ld = 64) {
    const int nk32 = (nk + 31) / 32 * 32;
    alignas(64) static const u16 il[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                           8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_load_si512(il);
    const __m512 zero = _mm512_setzero_ps();
    for (int r0 = 0; r0 < rp; r0 += 16)
        for (int n0 = 0; n0 < nk32; n0 += 32) {
            __m512i y[16];
            for (int i = 0; i < 16; ++i) {
                const int n = n0 + 2 * i;
                const __m512 a = n < nk ? _mm512_load_ps(s + n * rp + r0) : zero;
                const __m512 b = n + 1 < nk ? _mm512_load_ps(s + (n + 1) * rp + r0) : zero;
                y[i] = _mm512_permutexvar_epi16(idx, (__m512i)_mm512_cvtne2ps_pbh(b, a));
            }
            simd::transpose_16x16(y);
            for (int r = 0; r < 16; ++r) _mm512_store_si512(pb + (r0 + r) * ld + n0, y[r]);
        }
}

// ---- values
static void pack_values(const u16* v, int nk,
                        u32* vp) {  // [nk/2][D] pairs, nk even multiple of 32 assumed padded
    alignas(64) static const u16 lo_i[32] = {0, 32, 1, 33, 2,  34, 3,  35, 4,  36, 5,  37, 6,  38, 7,  39,
                                             8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
    alignas(64) static const u16 hi_i[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                             24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
    const __m512i lo = _mm512_load_si512(lo_i), hi = _mm512_load_si512(hi_i);
    for (int n = 0; n < nk; n += 2)
        for (int c = 0; c < D; c += 32) {
            const __m512i a = _mm512_loadu_si512(v + n * D + c), b = _mm512_loadu_si512(v + (n + 1) * D + c);
            _mm512_storeu_si512(vp + (n / 2) * D + c, _mm512_permutex2var_epi16(a, lo, b));
            _mm512_storeu_si512(vp + (n / 2) * D + c + 16, _mm512_permutex2var_epi16(a, hi, b));
        }
}
static void pv_tile(const u16* pb, int rp, int nk, const u32* vp, float* acc) {
    const long cb = D * 4, ab = 64 * 2;
    for (int r0 = 0; r0 < rp; r0 += 32)
        for (int c0 = 0; c0 < D; c0 += 32) {
            float* o = acc + r0 * D + c0;
            TLOAD(0, o, cb);
            TLOAD(1, o + 16, cb);
            TLOAD(2, o + 16 * D, cb);
            TLOAD(3, o + 16 * D + 16, cb);
            for (int n0 = 0; n0 < nk; n0 += 32) {
                const u32* b = vp + (n0 / 2) * D + c0;
                TLOAD(4, pb + r0 * 64 + n0, ab);
                TLOAD(6, b, cb);
                TDP(0, 4, 6);
                TLOAD(7, b + 16, cb);
                TDP(1, 4, 7);
                TLOAD(5, pb + (r0 + 16) * 64 + n0, ab);
                TDP(2, 5, 6);
                TDP(3, 5, 7);
            }
            TSTORE(0, o, cb);
            TSTORE(1, o + 16, cb);
            TSTORE(2, o + 16 * D, cb);
            TSTORE(3, o + 16 * D + 16, cb);
        }
}
// P·V over nk keys whose weights are rows ld apart (nk up to ld): the accumulators are loaded and
// stored once per nk keys instead of once per 64.
static void pv_tile_n(const u16* pb, int ld, int rp, int nk, const u32* vp, float* acc) {
    const long cb = D * 4, ab = ld * 2;
    for (int r0 = 0; r0 < rp; r0 += 32)
        for (int c0 = 0; c0 < D; c0 += 32) {
            float* o = acc + r0 * D + c0;
            TLOAD(0, o, cb);
            TLOAD(1, o + 16, cb);
            TLOAD(2, o + 16 * D, cb);
            TLOAD(3, o + 16 * D + 16, cb);
            for (int n0 = 0; n0 < nk; n0 += 32) {
                const u32* b = vp + (n0 / 2) * D + c0;
                TLOAD(4, pb + r0 * ld + n0, ab);
                TLOAD(6, b, cb);
                TDP(0, 4, 6);
                TLOAD(7, b + 16, cb);
                TDP(1, 4, 7);
                TLOAD(5, pb + (r0 + 16) * ld + n0, ab);
                TDP(2, 5, 6);
                TDP(3, 5, 7);
            }
            TSTORE(0, o, cb);
            TSTORE(1, o + 16, cb);
            TSTORE(2, o + 16 * D, cb);
            TSTORE(3, o + 16 * D + 16, cb);
        }
}
static void pv_tile_zero_c(const u16* pb, int rp, int nk, const u32* vp, float* acc) {
    const long cb = D * 4, ab = 64 * 2;
    for (int r0 = 0; r0 < rp; r0 += 32)
        for (int c0 = 0; c0 < D; c0 += 32) {
            float* o = acc + r0 * D + c0;
            TZERO(0);
            TZERO(1);
            TZERO(2);
            TZERO(3);
            for (int n0 = 0; n0 < nk; n0 += 32) {
                const u32* b = vp + (n0 / 2) * D + c0;
                TLOAD(4, pb + r0 * 64 + n0, ab);
                TLOAD(6, b, cb);
                TDP(0, 4, 6);
                TLOAD(7, b + 16, cb);
                TDP(1, 4, 7);
                TLOAD(5, pb + (r0 + 16) * 64 + n0, ab);
                TDP(2, 5, 6);
                TDP(3, 5, 7);
            }
            TSTORE(0, o, cb);
            TSTORE(1, o + 16, cb);
            TSTORE(2, o + 16 * D, cb);
            TSTORE(3, o + 16 * D + 16, cb);
        }
}

static void mask_diag(float* S,
                      int rp) {  // row r (token i0 + r) sees keys n <= r (diagonal tile)
    for (int n = 1; n < 64; ++n) {
        const __mmask64 dummy = 0;
        (void)dummy;
        for (int r0 = 0; r0 < rp; r0 += 16) {
            const int cnt = n - r0;  // lanes r < n masked
            if (cnt <= 0) continue;
            const __mmask16 mk = cnt >= 16 ? 0xffff : __mmask16((1u << cnt) - 1);
            _mm512_mask_store_ps(S + n * rp + r0, mk, _mm512_set1_ps(-INFINITY));
        }
    }
}

// ---- interleaved pipeline: per iteration kt the AMX unit computes
// scores(kt+1) and P·V(kt-1) while the vector units weigh and pack tile kt; the
// two streams alternate step by step so the out-of-order core overlaps them.
struct ilv_state {
    float* S[2];
    u16* pb[2];
    const u16* K;
    const u32* qp;
    const u32* vall;
    u32* vt[2];
    const u16* V;
    float* acc;
    float* m;
    float* l;
    float* alpha;
    float scale;
    int qt;
    bool prepack;
    int pvsplit;
    // per row block softmax state
    alignas(64) float mref2[64];  // -m_ref*log2e
    __m512 sum[4];
    bool rescale_any;
};
static inline void score_step(ilv_state& st, int kt,
                              int step) {  // 16 steps: block b = step/4, d-step = step%4
    const int blk = step >> 2, ds = step & 3, n0 = (blk >> 1) * 32, r0 = (blk & 1) * 32, rp = 64;
    const u16* K = st.K + (kt * KT + n0) * D;
    const long ab = D * 2, bb = rp * 4;
    if (ds == 0) {
        TZERO(0);
        TZERO(1);
        TZERO(2);
        TZERO(3);
    }
    const int d0 = ds * 32;
    TLOAD(4, K + d0, ab);
    TLOAD(6, st.qp + (d0 / 2) * rp + r0, bb);
    TDP(0, 4, 6);
    TLOAD(7, st.qp + (d0 / 2) * rp + r0 + 16, bb);
    TDP(1, 4, 7);
    TLOAD(5, K + 16 * D + d0, ab);
    TDP(2, 5, 6);
    TDP(3, 5, 7);
    if (ds == 3) {
        float* out = st.S[(kt)&1] + n0 * rp + r0;
        TSTORE(0, out, bb);
        TSTORE(1, out + 16, bb);
        TSTORE(2, out + 16 * rp, bb);
        TSTORE(3, out + 16 * rp + 16, bb);
    }
}
static inline void pv_step(ilv_state& st, int kt,
                           int step) {  // 16 steps: block b = step/2 (rb pair,
                                        // cb pair), k-step = step%2
    const int blk = step >> 1, ks = step & 1, r0 = (blk >> 2) * 32, c0 = (blk & 3) * 32;
    const long cb = D * 4, ab = 64 * 2;
    const u16* pb = st.pb[kt & 1];
    const u32* vp = st.prepack ? st.vall + (kt * KT / 2) * D : st.vt[kt & 1];
    float* o = st.acc + r0 * D + c0;
    if (ks == 0) {
        TLOAD(0, o, cb);
        TLOAD(1, o + 16, cb);
        TLOAD(2, o + 16 * D, cb);
        TLOAD(3, o + 16 * D + 16, cb);
    }
    const int n0 = ks * 32;
    const u32* b = vp + (n0 / 2) * D + c0;
    TLOAD(4, pb + r0 * 64 + n0, ab);
    TLOAD(6, b, cb);
    TDP(0, 4, 6);
    TLOAD(7, b + 16, cb);
    TDP(1, 4, 7);
    TLOAD(5, pb + (r0 + 16) * 64 + n0, ab);
    TDP(2, 5, 6);
    TDP(3, 5, 7);
    if (ks == 1) {
        TSTORE(0, o, cb);
        TSTORE(1, o + 16, cb);
        TSTORE(2, o + 16 * D, cb);
        TSTORE(3, o + 16 * D + 16, cb);
    }
}
// AVX chunks of tile kt: per row block rb (4): 0 max/state, 1..4 exp of 16
// keys, 5..6 pack 32 keys; then 4 V-pack chunks
static inline void exp_keys(ilv_state& st, float* S, int rb, int k0, int k1) {
    const int rp = 64, r = rb * 16;
    const __m512 c = _mm512_set1_ps(st.scale * 1.44269504088896341f), lo = _mm512_set1_ps(-125.0f);
    const __m512 mb = _mm512_load_ps(st.mref2 + r);
    __m512 sum = st.sum[rb], sum2 = _mm512_setzero_ps();
    for (int k = k0; k < k1; ++k) {
        float* s = S + k * rp + r;
        const __m512 x = _mm512_fmadd_ps(_mm512_load_ps(s), c, mb);
        const __m512 nn = _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        const __m512 f = _mm512_sub_ps(x, nn);
        __m512 p = _mm512_set1_ps(1.535336188319500e-4f);
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.339887440266574e-3f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.618437357674640e-3f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.550332471162809e-2f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402264791363012e-1f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931472028550421e-1f));
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
        const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_NLT_UQ);
        const __m512 y = _mm512_maskz_scalef_ps(keep, p, nn);
        _mm512_store_ps(s, y);
        if (k & 1) sum2 = _mm512_add_ps(sum2, y);
        else sum = _mm512_add_ps(sum, y);
    }
    st.sum[rb] = _mm512_add_ps(sum, sum2);
}
static inline void row_stats(ilv_state& st, float* S, int rb) {
    const int rp = 64, r = rb * 16;
    __m512 mx[4] = {_mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY), _mm512_set1_ps(-INFINITY)};
    for (int n = 0; n < 64; n += 4)
        for (int k = 0; k < 4; ++k) mx[k] = _mm512_max_ps(mx[k], _mm512_load_ps(S + (n + k) * rp + r));
    const __m512 tmax = _mm512_mul_ps(_mm512_max_ps(_mm512_max_ps(mx[0], mx[1]), _mm512_max_ps(mx[2], mx[3])), _mm512_set1_ps(st.scale));
    const __m512 m_old = _mm512_load_ps(st.m + r);
    __m512 m_new = m_old;
    alignas(64) float a[16];
    if (_mm512_cmp_ps_mask(tmax, _mm512_add_ps(m_old, _mm512_set1_ps(8.0f)), _CMP_NLE_UQ)) {
        m_new = _mm512_max_ps(m_old, tmax);
        st.rescale_any = true;
        const __mmask16 ninf = _mm512_cmp_ps_mask(m_new, _mm512_set1_ps(-INFINITY), _CMP_EQ_OQ);
        const __m512 m_ref = _mm512_mask_mov_ps(m_new, ninf, _mm512_setzero_ps());
        alignas(64) float mo[16], mr[16];
        _mm512_store_ps(mo, m_old);
        _mm512_store_ps(mr, m_ref);
        for (int i = 0; i < 16; ++i) a[i] = mo[i] == -INFINITY ? 0.0f : std::exp(mo[i] - mr[i]);
        _mm512_store_ps(st.mref2 + r, _mm512_mul_ps(m_ref, _mm512_set1_ps(-1.44269504088896341f)));
    } else {
        for (int i = 0; i < 16; ++i) a[i] = 1.0f;
    }
    _mm512_store_ps(st.alpha + r, _mm512_load_ps(a));
    _mm512_store_ps(st.l + r, _mm512_mul_ps(_mm512_load_ps(st.l + r), _mm512_load_ps(a)));
    _mm512_store_ps(st.m + r, m_new);
    st.sum[rb] = _mm512_setzero_ps();
}
__attribute__((target("avx512bf16"))) static inline void pack_rows16(const float* s, int r0, int n0, u16* pb) {
    alignas(64) static const u16 il[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                           8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
    const __m512i idx = _mm512_load_si512(il);
    const int rp = 64;
    __m512i y[16];
    for (int i = 0; i < 16; ++i) {
        const int n = n0 + 2 * i;
        y[i] = _mm512_permutexvar_epi16(
            idx, (__m512i)_mm512_cvtne2ps_pbh(_mm512_load_ps(s + (n + 1) * rp + r0), _mm512_load_ps(s + n * rp + r0)));
    }
    simd::transpose_16x16(y);
    for (int r = 0; r < 16; ++r) _mm512_store_si512(pb + (r0 + r) * 64 + n0, y[r]);
}
static inline void mask_rows(float* S,
                             int rb) {  // diagonal tile: row r sees keys n <= r
    for (int n = rb * 16 + 1; n < 64; ++n) {
        const int cnt = n - rb * 16;
        const __mmask16 mk = cnt >= 16 ? 0xffff : __mmask16((1u << cnt) - 1);
        _mm512_mask_store_ps(S + n * 64 + rb * 16, mk, _mm512_set1_ps(-INFINITY));
    }
}
static inline void avx_chunk(ilv_state& st, int kt, int c) {
    float* S = st.S[kt & 1];
    if (c < 28) {
        const int rb = c / 7, j = c % 7;
        if (j == 0) {
            if (kt == st.qt) mask_rows(S, rb);
            row_stats(st, S, rb);
        } else if (j <= 4) exp_keys(st, S, rb, (j - 1) * 16, j * 16);
        else if (j == 5) {
            _mm512_store_ps(st.l + rb * 16, _mm512_add_ps(_mm512_load_ps(st.l + rb * 16), st.sum[rb]));
            pack_rows16(S, rb * 16, 0, st.pb[kt & 1]);
        } else pack_rows16(S, rb * 16, 32, st.pb[kt & 1]);
    } else if (!st.prepack) {
        const int q = c - 28;  // 4 chunks of 16 keys
        pack_values(st.V + (kt * KT + q * 16) * D, 16, st.vt[kt & 1] + (q * 8) * D);
    }
}
struct head_ws {
    alignas(64) float S[2][64 * 64];
    alignas(64) float acc[64 * D];
    alignas(64) u16 pb[64 * 64];
    alignas(64) u32 qp[D / 2 * 64];
    alignas(64) u32 vtile[32 * D];
    alignas(64) u16 pb2[64 * 64];
    alignas(64) u16 pbig[64 * 256];
    alignas(64) u32 vtile2[32 * D];
    alignas(64) float m[64], l[64], alpha[64];
};

static void run_head(const u16* Q, const u16* K, const u16* V, u16* O, const opts& o, head_ws& w, u32* vall) {
    const float scale = 1.0f / std::sqrt(float(D));
    if (o.prepack_v) pack_values(V, L, vall);
    for (int qt = L / QT - 1; qt >= 0; --qt) {
        const int i0 = qt * QT, rp = 64;
        for (int r = 0; r < rp; ++r)
            for (int d = 0; d < D; d += 2) w.qp[(d / 2) * rp + r] = u32(Q[(i0 + r) * D + d]) | (u32(Q[(i0 + r) * D + d + 1]) << 16);
        for (int r = 0; r < rp; ++r) {
            w.m[r] = -INFINITY;
            w.l[r] = 0;
        }
        std::memset(w.acc, 0, sizeof w.acc);
        const int ntiles = qt + 1;
        auto scores = [&](int kt, float* S) {
            if (!o.amx || !o.do_scores) {
                if (kt == qt && o.avx) mask_diag(S, rp);
                return;
            }
            const u16* k = K + kt * KT * D;
            if (o.score == 0) score_v0(k, 64, w.qp, rp, scale, S, !o.fold_scale);
            else {
                score_v1(k, 64, w.qp, rp, S);
                if (!o.fold_scale) scale_pass(S, 64, rp, scale);
            }
            if (kt == qt) mask_diag(S, rp);
        };
        // Weights of up to o.pv_keys keys wait in pbig for one P·V; a rescale of the accumulators
        // first adds them (they were weighed against the old reference max).
        int pending = 0, first_pending = 0;
        auto flush = [&] {
            if (pending == 0) return;
            if (o.amx && o.do_pv) pv_tile_n(w.pbig, 256, rp, pending * 64, vall + (first_pending * KT / 2) * D, w.acc);
            pending = 0;
        };
        auto weigh = [&](float* S) {
            if (!o.avx) return;
            const bool rescale = o.fold_scale ? softmax_x2(S, 64, rp, scale, w.m, w.l, w.alpha) : softmax_lib(S, 64, rp, w.m, w.l, w.alpha);
            if (rescale) {
                flush();
                rescale_acc(w.acc, w.alpha, rp);
            }
        };
        auto pack = [&](const float* S) {
            if (!o.avx) return;
            if (o.pv_keys > 64) pack_w_cvt(S, rp, 64, w.pbig + pending * 64, 256);
            else if (o.pack == 0) pack_w_lib(S, rp, 64, w.pb);
            else pack_w_cvt(S, rp, 64, w.pb);
        };
        auto pv = [&](int kt) {
            if (o.pv_keys > 64) {
                if (pending++ == 0) first_pending = kt;
                if (pending * 64 == o.pv_keys || kt == ntiles - 1) flush();
                return;
            }
            if (!o.amx || !o.do_pv) return;
            const u32* vp = w.vtile;
            if (o.prepack_v) vp = vall + (kt * KT / 2) * D;
            else pack_values(V + kt * KT * D, 64, w.vtile);
            if (o.pv_zero_c) pv_tile_zero_c(w.pb, rp, 64, vp, w.acc);
            else pv_tile(w.pb, rp, 64, vp, w.acc);
        };
        CONFIG();
        if (!o.pipe) {
            for (int kt = 0; kt < ntiles; ++kt) {
                scores(kt, w.S[0]);
                weigh(w.S[0]);
                pack(w.S[0]);
                pv(kt);
            }
        } else {
            int cur = 0;
            scores(0, w.S[0]);
            weigh(w.S[0]);
            for (int kt = 0; kt < ntiles; ++kt) {
                const bool more = kt + 1 < ntiles;
                if (more) scores(kt + 1, w.S[cur ^ 1]);
                pack(w.S[cur]);
                pv(kt);
                if (more) weigh(w.S[cur ^ 1]);
                cur ^= 1;
            }
        }
        RELEASE();
        for (int r = 0; r < rp; ++r) {
            const float inv = 1.0f / w.l[r];
            for (int d = 0; d < D; ++d) O[(i0 + r) * D + d] = f2bf(w.acc[r * D + d] * inv);
        }
    }
}

static void run_head_ilv(const u16* Q, const u16* K, const u16* V, u16* O, const opts& o, head_ws& w, u32* vall) {
    static ilv_state st;
    st.S[0] = w.S[0];
    st.S[1] = w.S[1];
    st.pb[0] = w.pb;
    st.pb[1] = w.pb2;
    st.vt[0] = w.vtile;
    st.vt[1] = w.vtile2;
    st.K = K;
    st.V = V;
    st.qp = w.qp;
    st.vall = vall;
    st.acc = w.acc;
    st.m = w.m;
    st.l = w.l;
    st.alpha = w.alpha;
    st.scale = 1.0f / std::sqrt(float(D));
    st.prepack = o.prepack_v;
    if (o.prepack_v) pack_values(V, L, vall);
    for (int qt = L / QT - 1; qt >= 0; --qt) {
        const int i0 = qt * QT, rp = 64;
        st.qt = qt;
        for (int r = 0; r < rp; ++r)
            for (int d = 0; d < D; d += 2) w.qp[(d / 2) * rp + r] = u32(Q[(i0 + r) * D + d]) | (u32(Q[(i0 + r) * D + d + 1]) << 16);
        for (int r = 0; r < rp; ++r) {
            w.m[r] = -INFINITY;
            w.l[r] = 0;
            st.mref2[r] = 0;
        }
        std::memset(w.acc, 0, sizeof w.acc);
        const int ntiles = qt + 1;
        CONFIG();
        for (int i = 0; i < 16; ++i) score_step(st, 0, i);
        for (int kt = 0; kt <= ntiles; ++kt) {
            st.rescale_any = false;
            const bool sc = kt + 1 < ntiles, pv = kt >= 1, av = kt < ntiles;
            const int na = (sc ? 16 : 0) + (pv ? 16 : 0), nv = av ? (o.prepack_v ? 28 : 32) : 0;
            int ia = 0, iv = 0;
            if (o.pipe) {
                while (ia < na || iv < nv) {
                    if (ia < na) {
                        const int i = ia++;
                        if (sc && i < 16) score_step(st, kt + 1, i);
                        else pv_step(st, kt - 1, i - (sc ? 16 : 0));
                    }
                    if (iv < nv) avx_chunk(st, kt, iv++);
                }
            } else {
                for (; ia < na; ++ia) {
                    if (sc && ia < 16) score_step(st, kt + 1, ia);
                    else pv_step(st, kt - 1, ia - (sc ? 16 : 0));
                }
                for (; iv < nv; ++iv) avx_chunk(st, kt, iv);
            }
            if (av && st.rescale_any) rescale_acc(w.acc, w.alpha, rp);
        }
        RELEASE();
        for (int r = 0; r < rp; ++r) {
            const float inv = 1.0f / w.l[r];
            for (int d = 0; d < D; ++d) O[(i0 + r) * D + d] = f2bf(w.acc[r * D + d] * inv);
        }
    }
}

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::atoi(argv[1]) : 5;
    const size_t n = size_t(H) * L * D;
    std::vector<bf16> q(n), k(n), v(n), out(n);
    std::mt19937 g(7);
    std::normal_distribution<float> nd;
    for (size_t i = 0; i < n; ++i) {
        q[i] = bf16(nd(g));
        k[i] = bf16(nd(g));
        v[i] = bf16(nd(g));
    }
    std::vector<u16> o2(n);
    std::vector<u32> vall(size_t(L / 2) * D);
    static head_ws w;
    const auto qv = view_bhld(q.data(), 1, H, L, D), kv = view_bhld(k.data(), 1, H, L, D), vv = view_bhld(v.data(), 1, H, L, D);
    const auto ov = view_bhld(out.data(), 1, H, L, D);
    const double flop = 4.0 * D * H * (double(L) * (L + 1) / 2);
    auto time = [&](auto f) {
        double best = 1e30;
        for (int i = 0; i < reps; ++i) {
            auto t0 = std::chrono::steady_clock::now();
            f();
            best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
        }
        return best;
    };
    const u16* Q = reinterpret_cast<const u16*>(q.data());
    const u16* K = reinterpret_cast<const u16*>(k.data());
    const u16* V = reinterpret_cast<const u16*>(v.data());
    // float64 reference for head 0, rows sampled
    auto ref_err = [&](const u16* O) {
        double num = 0, den = 0, mx = 0;
        for (int h = 0; h < H; h += 3)
            for (int i = 5; i < L; i += 97) {
                std::vector<double> s(i + 1);
                double smax = -1e300;
                for (int j = 0; j <= i; ++j) {
                    double a = 0;
                    for (int d = 0; d < D; ++d) a += double(bf2f(Q[(size_t(h) * L + i) * D + d])) * bf2f(K[(size_t(h) * L + j) * D + d]);
                    s[j] = a / std::sqrt(double(D));
                    smax = std::max(smax, s[j]);
                }
                double z = 0;
                for (int j = 0; j <= i; ++j) {
                    s[j] = std::exp(s[j] - smax);
                    z += s[j];
                }
                for (int d = 0; d < D; ++d) {
                    double o = 0;
                    for (int j = 0; j <= i; ++j) o += s[j] * bf2f(V[(size_t(h) * L + j) * D + d]);
                    o /= z;
                    const double e = bf2f(O[(size_t(h) * L + i) * D + d]) - o;
                    num += e * e;
                    den += o * o;
                    mx = std::max(mx, std::abs(e));
                }
            }
        return std::make_pair(std::sqrt(num / den), mx);
    };
#ifndef MOCK
    double tl = time([&] { attention(qv, kv, vv, ov, variant(causal{}), options{}, serial_executor{}); });
    auto el = ref_err(reinterpret_cast<const u16*>(out.data()));
    std::printf("%-34s %8.2f ms %7.1f GFLOP/s  relL2 %.3e max %.3e\n", "library attention()", tl * 1e3, flop / tl * 1e-9, el.first,
                el.second);
#endif
    std::vector<opts> vs;
    auto add = [&](const char* name, int score, bool fold, int pack, bool prepack, bool pipe, bool ilv = false, bool amx = true,
                   bool avx = true) {
        opts o;
        o.name = name;
        o.score = score;
        o.fold_scale = fold;
        o.pack = pack;
        o.prepack_v = prepack;
        o.pipe = pipe;
        o.ilv = ilv;
        o.amx = amx;
        o.avx = avx;
        vs.push_back(o);
    };
    add("v0 library algorithm", 0, false, 0, false, false);
    add("v0: AMX only", 0, false, 0, false, false, false, true, false);
    add("v0: AVX only", 0, false, 0, false, false, false, false, true);
    auto part = [&](const char* name, int score, bool fold, bool prepack, bool sc, bool pv, bool zero_c, int pv_keys = 64) {
        add(name, score, fold, 1, prepack, false, false, true, false);
        vs.back().do_scores = sc;
        vs.back().do_pv = pv;
        vs.back().pv_zero_c = zero_c;
        vs.back().pv_keys = pv_keys;
    };
    part("AMX scores only (1x2, scale pass)", 0, false, false, true, false, false);
    part("AMX P.V only (V per head)", 0, false, true, false, true, false);
    part("AMX P.V only (V per head, 128 keys)", 0, false, true, false, true, false, 128);
    part("AMX P.V only (V per head, 256 keys)", 0, false, true, false, true, false, 256);
    auto full = [&](const char* name, int pv_keys) {
        add(name, 0, false, 1, true, false);
        vs.back().pv_keys = pv_keys;
    };
    full("cvt pack, V per head", 64);
    full("cvt pack, V per head, P.V per 128 keys", 128);
    full("cvt pack, V per head, P.V per 256 keys", 256);
    if (argc > 2) vs.resize(std::atoi(argv[2]));
    for (auto& o : vs) {
        auto f = [&] {
            for (int h = 0; h < H; ++h)
                (o.ilv ? run_head_ilv : run_head)(Q + size_t(h) * L * D, K + size_t(h) * L * D, V + size_t(h) * L * D,
                                                  o2.data() + size_t(h) * L * D, o, w, vall.data());
        };
        double t = time(f);
        auto e = ref_err(o2.data());
        std::printf("%-34s %8.2f ms %7.1f GFLOP/s  relL2 %.3e max %.3e\n", o.name, t * 1e3, flop / t * 1e-9, e.first, e.second);
    }
}
