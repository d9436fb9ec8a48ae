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

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#include <immintrin.h>
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
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < RB; ++j) a[i][j] = _mm512_setzero_si512();
    const std::uint8_t* k = kq + n0 * dp;
    for (index_t d4 = 0; d4 < dp / 4; ++d4) {
        __m512i q[RB];
        for (int j = 0; j < RB; ++j) q[j] = _mm512_loadu_si512(static_cast<const void*>(qp + d4 * rp + r0 + 16 * j));
        for (int i = 0; i < 4; ++i) {
            std::int32_t w;
            std::memcpy(&w, k + i * dp + 4 * d4, 4);
            const __m512i kb = _mm512_set1_epi32(w);
            for (int j = 0; j < RB; ++j) a[i][j] = _mm512_dpbusd_epi32(a[i][j], kb, q[j]);
        }
    }
    for (int i = 0; i < 4; ++i)
        if (n0 + i < nk)
            for (int j = 0; j < RB; ++j) _mm512_storeu_si512(static_cast<void*>(acc + (n0 + i) * rp + r0 + 16 * j), a[i][j]);
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
