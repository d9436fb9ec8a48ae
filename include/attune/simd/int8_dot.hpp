#pragma once
// Integer score products for int8 Q·Kᵀ (SageAttention: Zhang et al., ICLR 2025, §3–4): Q and K
// rounded to int8 with one scale each, their products summed exactly in int32.
//   quantize_int8          x ≈ s · x̂, s = max|x| / 127, x̂ = round(x / s) half away from zero (the
//                          authors' quantizer: x/s + 0.5·sign, truncated)
//   Q as quads             qp[(d/4)·rp + r] = q̂[r][d..d+3] in one 32-bit word: the B operand of
//                          vpdpbusd and of AMX's tdpbssd, 16 rows per 64-byte vector
//   K rows                 kq[n][dp], dp ≥ dk zero-padded (a multiple of 4, or of 64 for AMX)
//   int8_scores_portable   acc[n][r] = Σ_d k̂[n][d]·q̂[r][d], plain loops (every arch)
//   int8_scores_vnni       the same with AVX-512 VNNI (vpdpbusd: 64 byte products per instruction);
//                          vpdpbusd takes unsigned × signed bytes, so K is stored as k̂ + 128 (its
//                          sign bit flipped) and 128·Σ_d q̂[r][d] is taken out of each row after
// The sums are exact (|acc| < 255·127·dp < 2^31 for dp ≤ 65536).
#include <cstdint>
#include <cstring>

#include "attune/core/types.hpp"
#include "attune/simd/unroll.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define ATTUNE_INT8_VNNI 1
#else
#define ATTUNE_INT8_VNNI 0
#endif

namespace attune::simd::int8 {

// The most padded dims a sum may span without overflowing int32 (255 · 127 · 65536 < 2^31).
inline constexpr index_t max_dims = 65536;

// Rounds x (|x| ≤ 127 up to rounding) half away from zero; NaN and anything out of range give 0
// (the caller carries NaN through the float correction terms, never through a conversion).
inline std::int8_t round_int8(float x) noexcept {
    const float r = x + (x >= 0.0f ? 0.5f : -0.5f);
    return r > -128.0f && r < 128.0f ? static_cast<std::int8_t>(static_cast<int>(r)) : std::int8_t(0);
}

// 1 / s for the largest magnitude amax (0 when amax is 0 or not finite: the row rounds to zeros and
// its scale, amax / 127, carries the inf or NaN into its scores).
inline float inverse_step(float amax) noexcept { return amax > 0.0f && amax <= 3.0e38f ? 127.0f / amax : 0.0f; }

// Q packed as [dk][rp] floats (rows contiguous per dim, kernel/q_pack.hpp) → quads qp [dp/4][rp],
// row scales sq[r] and 128·Σ_d q̂[r][d] in off[r] (vpdpbusd's offset). One scale per query row
// (SageAttention uses one per block of 128 or per warp of query rows: a row's own is finer and
// costs the same here). Rows and dims past the data are zero.
inline void quantize_q(const float* qt, index_t rp, index_t dk, index_t dp, std::uint32_t* qp, float* sq, std::int32_t* off) {
    for (index_t r = 0; r < rp; ++r) sq[r] = 0.0f, off[r] = 0;
    for (index_t d = 0; d < dk; ++d)
        for (index_t r = 0; r < rp; ++r) {
            const float a = qt[d * rp + r] < 0.0f ? -qt[d * rp + r] : qt[d * rp + r];
            sq[r] = a > sq[r] ? a : sq[r];
        }
    for (index_t d4 = 0; d4 < dp / 4; ++d4)
        for (index_t r = 0; r < rp; ++r) {
            const float inv = inverse_step(sq[r]);
            std::uint32_t w = 0;
            for (index_t j = 0; j < 4; ++j) {
                const index_t d = 4 * d4 + j;
                const std::int8_t v = d < dk ? round_int8(qt[d * rp + r] * inv) : std::int8_t(0);
                off[r] += v;
                w |= static_cast<std::uint32_t>(static_cast<std::uint8_t>(v)) << (8 * j);
            }
            qp[d4 * rp + r] = w;
        }
    for (index_t r = 0; r < rp; ++r) sq[r] /= 127.0f, off[r] *= 128;
}

// One key row (dk floats, minus the offset c when given) → dp bytes of k̂ (XOR `flip`: 0x80 for
// vpdpbusd's unsigned operand, 0 otherwise), padding zero; returns the scale.
inline float quantize_k_row(const float* k, const float* c, index_t dk, index_t dp, std::uint8_t flip, std::uint8_t* out) {
    float amax = 0.0f;
    for (index_t d = 0; d < dk; ++d) {
        const float x = c != nullptr ? k[d] - c[d] : k[d];
        const float a = x < 0.0f ? -x : x;
        amax = a > amax ? a : amax;
    }
    const float inv = inverse_step(amax);
    for (index_t d = 0; d < dk; ++d) {
        const float x = c != nullptr ? k[d] - c[d] : k[d];
        out[d] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(round_int8(x * inv)) ^ flip);
    }
    for (index_t d = dk; d < dp; ++d) out[d] = flip;
    return amax / 127.0f;
}

// The AVX-512 forms below, like the VNNI kernel, live in a namespace named by this unit's flags
// (simd/dispatch.hpp links units built with and without them); elsewhere they are declared only,
// for stages to name under `if constexpr (caps<Arch>::avx512)`.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
inline namespace avx512_compiled_in {
#else
inline namespace avx512_not_compiled {
#endif
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
// quantize_k_row in 16 lanes: the same operations in the same order per element, so the same bytes.
inline float quantize_k_row_avx512(const float* k, const float* c, index_t dk, index_t dp, std::uint8_t flip, std::uint8_t* out) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(0x80000000u)));
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    const auto at = [&](index_t d, __mmask16 m) {
        const __m512 x = _mm512_maskz_loadu_ps(m, k + d);
        return c != nullptr ? _mm512_sub_ps(x, _mm512_maskz_loadu_ps(m, c + d)) : x;
    };
    const auto tail = [&](index_t d) { return dk - d >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << (dk - d)) - 1u); };
    __m512 amax = _mm512_setzero_ps();
    for (index_t d = 0; d < dk; d += 16) {
        const __m512 a = _mm512_and_ps(at(d, tail(d)), abs_mask);
        amax = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, amax, _CMP_GT_OQ), amax, a);  // a > amax ? a : amax
    }
    // The largest lane (all ≥ 0, none NaN: any order gives the scalar loop's value). The masked
    // forms with all lanes on: the plain ones (and _mm512_reduce_max_ps) start from
    // _mm512_undefined_ps, which GCC 12 reports as uninitialised here (-Werror in the benchmarks).
    const __mmask16 all = 0xffff;
    amax = _mm512_mask_max_ps(amax, all, amax, _mm512_mask_shuffle_f32x4(amax, all, amax, amax, 0x4e));
    amax = _mm512_mask_max_ps(amax, all, amax, _mm512_mask_shuffle_f32x4(amax, all, amax, amax, 0xb1));
    amax = _mm512_mask_max_ps(amax, all, amax, _mm512_mask_permute_ps(amax, all, amax, 0x4e));
    amax = _mm512_mask_max_ps(amax, all, amax, _mm512_mask_permute_ps(amax, all, amax, 0xb1));
    const float m = _mm512_cvtss_f32(amax);
    const __m512 inv = _mm512_set1_ps(inverse_step(m)), half = _mm512_set1_ps(0.5f), lim = _mm512_set1_ps(128.0f);
    const __m128i fl = _mm_set1_epi8(static_cast<char>(flip));
    for (index_t d = 0; d < dk; d += 16) {
        const __mmask16 t = tail(d);
        const __m512 y = _mm512_mul_ps(at(d, t), inv);
        const __m512 r = _mm512_add_ps(y, _mm512_or_ps(_mm512_and_ps(y, sign), half));  // y + 0.5·sign(y)
        const __mmask16 ok = _mm512_cmp_ps_mask(_mm512_and_ps(r, abs_mask), lim, _CMP_LT_OQ);
        const __m128i b = _mm512_maskz_cvtepi32_epi8(0xffff, _mm512_maskz_cvttps_epi32(ok, r));
        _mm_mask_storeu_epi8(out + d, t, _mm_xor_si128(b, fl));
    }
    for (index_t d = dk; d < dp; ++d) out[d] = flip;
    return m / 127.0f;
}
#else
float quantize_k_row_avx512(const float* k, const float* c, index_t dk, index_t dp, std::uint8_t flip, std::uint8_t* out);
#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
// quantize_q for rp a multiple of 16, 16 rows at a time: the same bytes, scales and offsets.
inline void quantize_q_avx512(const float* qt, index_t rp, index_t dk, index_t dp, std::uint32_t* qp, float* sq, std::int32_t* off) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(static_cast<int>(0x80000000u)));
    const __m512 abs_mask = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    const __m512 half = _mm512_set1_ps(0.5f), lim = _mm512_set1_ps(128.0f), zero = _mm512_setzero_ps();
    for (index_t r = 0; r < rp; r += 16) {
        __m512 amax = zero;
        for (index_t d = 0; d < dk; ++d) {
            const __m512 a = _mm512_and_ps(_mm512_loadu_ps(qt + d * rp + r), abs_mask);
            amax = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, amax, _CMP_GT_OQ), amax, a);  // a > amax ? a : amax
        }
        // inverse_step per lane: 127 / amax where 0 < amax ≤ 3e38, else 0.
        const __mmask16 finite = _mm512_cmp_ps_mask(amax, zero, _CMP_GT_OQ) & _mm512_cmp_ps_mask(amax, _mm512_set1_ps(3.0e38f), _CMP_LE_OQ);
        const __m512 inv = _mm512_maskz_div_ps(finite, _mm512_set1_ps(127.0f), amax);
        __m512i sum = _mm512_setzero_si512();
        for (index_t d4 = 0; d4 < dp / 4; ++d4) {
            __m512i w = _mm512_setzero_si512();
            for (index_t j = 0; j < 4; ++j) {
                const index_t d = 4 * d4 + j;
                if (d >= dk) break;
                const __m512 y = _mm512_mul_ps(_mm512_loadu_ps(qt + d * rp + r), inv);
                const __m512 x = _mm512_add_ps(y, _mm512_or_ps(_mm512_and_ps(y, sign), half));
                const __m512i v = _mm512_maskz_cvttps_epi32(_mm512_cmp_ps_mask(_mm512_and_ps(x, abs_mask), lim, _CMP_LT_OQ), x);
                sum = _mm512_add_epi32(sum, v);
                w = _mm512_or_si512(w, _mm512_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0xff)), static_cast<unsigned>(8 * j)));
            }
            _mm512_storeu_si512(static_cast<void*>(qp + d4 * rp + r), w);
        }
        _mm512_storeu_ps(sq + r, _mm512_div_ps(amax, _mm512_set1_ps(127.0f)));
        _mm512_storeu_si512(static_cast<void*>(off + r), _mm512_slli_epi32(sum, 7));
    }
}
#else
void quantize_q_avx512(const float* qt, index_t rp, index_t dk, index_t dp, std::uint32_t* qp, float* sq, std::int32_t* off);
#endif

// The scores from the integer sums: s[n][r] = (acc[n][r] − off[r])·(sq[r]·sk[n]) + corr[r].
inline void scale_sums(const std::int32_t* acc, index_t nk, index_t rp, const std::int32_t* off, const float* sq, const float* sk,
                       const float* corr, float* s) {
    for (index_t n = 0; n < nk; ++n)
        for (index_t r = 0; r < rp; ++r) s[n * rp + r] = static_cast<float>(acc[n * rp + r] - off[r]) * (sq[r] * sk[n]) + corr[r];
}

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
// scale_sums for rp a multiple of 16 (mul and add kept apart: the same numbers as the loop above).
inline void scale_sums_avx512(const std::int32_t* acc, index_t nk, index_t rp, const std::int32_t* off, const float* sq, const float* sk,
                              const float* corr, float* s) {
    for (index_t r = 0; r < rp; r += 16) {
        const __m512i o = _mm512_loadu_si512(static_cast<const void*>(off + r));
        const __m512 q = _mm512_loadu_ps(sq + r), c = _mm512_loadu_ps(corr + r);
        for (index_t n = 0; n < nk; ++n) {
            const __m512 a =
                _mm512_maskz_cvtepi32_ps(0xffff, _mm512_sub_epi32(_mm512_loadu_si512(static_cast<const void*>(acc + n * rp + r)), o));
            _mm512_storeu_ps(s + n * rp + r, _mm512_add_ps(_mm512_mul_ps(a, _mm512_mul_ps(q, _mm512_set1_ps(sk[n]))), c));
        }
    }
}
#else
void scale_sums_avx512(const std::int32_t* acc, index_t nk, index_t rp, const std::int32_t* off, const float* sq, const float* sk,
                       const float* corr, float* s);
#endif
}  // namespace avx512_compiled_in / avx512_not_compiled

// acc[n][r] = Σ_d k̂[n][d]·q̂[r][d] for n < nk, r < rp; kq rows dp bytes apart (signed).
inline void int8_scores_portable(const std::uint8_t* kq, index_t dp, index_t nk, const std::uint32_t* qp, index_t rp, std::int32_t* acc) {
    for (index_t n = 0; n < nk; ++n) {
        const auto* k = reinterpret_cast<const std::int8_t*>(kq + n * dp);
        std::int32_t* a = acc + n * rp;
        for (index_t r = 0; r < rp; ++r) a[r] = 0;
        for (index_t d4 = 0; d4 < dp / 4; ++d4) {
            const std::int32_t k0 = k[4 * d4], k1 = k[4 * d4 + 1], k2 = k[4 * d4 + 2], k3 = k[4 * d4 + 3];
            const std::uint32_t* q = qp + d4 * rp;
            for (index_t r = 0; r < rp; ++r) {
                const std::uint32_t w = q[r];
                a[r] += k0 * static_cast<std::int8_t>(w & 0xffu) + k1 * static_cast<std::int8_t>((w >> 8) & 0xffu) +
                        k2 * static_cast<std::int8_t>((w >> 16) & 0xffu) + k3 * static_cast<std::int8_t>(w >> 24);
            }
        }
    }
}

// What depends on this unit's flags lives in a namespace named by them (as simd/amx.hpp does): a
// program may link units built with and without VNNI (simd/dispatch.hpp).
#if ATTUNE_INT8_VNNI
inline namespace vnni_compiled_in {
#else
inline namespace vnni_not_compiled {
#endif

// Whether this unit has the VNNI kernel (AVX-512 BW and VNNI in its flags).
inline constexpr bool vnni_compiled = ATTUNE_INT8_VNNI != 0;

#if ATTUNE_INT8_VNNI
namespace detail {
// Four keys × RB vectors of 16 rows, the sums in 4·RB registers over all of d.
template <int RB>
inline void vnni_block(const std::uint8_t* kq, index_t dp, index_t n0, index_t nk, const std::uint32_t* qp, index_t rp, index_t r0,
                       std::int32_t* acc) {
    __m512i a[4][RB];
    ATTUNE_UNROLL_FULL
    for (int i = 0; i < 4; ++i) {
        ATTUNE_UNROLL_FULL
        for (int j = 0; j < RB; ++j) a[i][j] = _mm512_setzero_si512();
    }
    const std::uint8_t* k = kq + n0 * dp;
    for (index_t d4 = 0; d4 < dp / 4; ++d4) {
        __m512i q[RB];
        ATTUNE_UNROLL_FULL
        for (int j = 0; j < RB; ++j) q[j] = _mm512_loadu_si512(static_cast<const void*>(qp + d4 * rp + r0 + 16 * j));
        ATTUNE_UNROLL_FULL
        for (int i = 0; i < 4; ++i) {
            std::int32_t w;
            std::memcpy(&w, k + i * dp + 4 * d4, 4);
            const __m512i kb = _mm512_set1_epi32(w);
            ATTUNE_UNROLL_FULL
            for (int j = 0; j < RB; ++j) a[i][j] = _mm512_dpbusd_epi32(a[i][j], kb, q[j]);
        }
    }
    ATTUNE_UNROLL_FULL
    for (int i = 0; i < 4; ++i)
        if (n0 + i < nk) {
            ATTUNE_UNROLL_FULL
            for (int j = 0; j < RB; ++j) _mm512_storeu_si512(static_cast<void*>(acc + (n0 + i) * rp + r0 + 16 * j), a[i][j]);
        }
}
}  // namespace detail

// acc[n][r] = Σ_d (k̂[n][d] + 128)·q̂[r][d] for n < nk, r < rp (rp a multiple of 16); kq holds
// round_up(nk, 4) rows of k̂ XOR 0x80, dp (a multiple of 4) bytes apart.
inline void int8_scores_vnni(const std::uint8_t* kq, index_t dp, index_t nk, const std::uint32_t* qp, index_t rp, std::int32_t* acc) {
    for (index_t n0 = 0; n0 < nk; n0 += 4) {
        index_t r0 = 0;
        for (; r0 + 64 <= rp; r0 += 64) detail::vnni_block<4>(kq, dp, n0, nk, qp, rp, r0, acc);
        if (rp - r0 == 48) detail::vnni_block<3>(kq, dp, n0, nk, qp, rp, r0, acc);
        else if (rp - r0 == 32) detail::vnni_block<2>(kq, dp, n0, nk, qp, rp, r0, acc);
        else if (rp - r0 == 16) detail::vnni_block<1>(kq, dp, n0, nk, qp, rp, r0, acc);
    }
}
#else
// Declared on every build so that a stage can name it under `if constexpr (vnni_compiled)`.
void int8_scores_vnni(const std::uint8_t* kq, index_t dp, index_t nk, const std::uint32_t* qp, index_t rp, std::int32_t* acc);
#endif

}  // namespace vnni_compiled_in / vnni_not_compiled

}  // namespace attune::simd::int8
