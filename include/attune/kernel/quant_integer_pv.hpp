#pragma once
// Decode's P·V on int8 V as integer products (options::int8_query), on CPUs with AVX-512 VNNI. The
// float kernel widens every V byte to a float lane (two ALU operations per 16 values) before its
// FMAs, which costs about what reading half the bytes of bf16 saves. Here each row's weights of a
// tile, with each key's V scale folded in (w_n = p_n · sv_n), are rounded to int16 against the
// row's largest |w| in the tile (15 bits: a relative error ≤ 2^-16 of that weight), and vpdpwssd
// adds w_n·v_n + w_{n+1}·v_{n+1} for 16 columns into int32 lanes in one instruction, V's rows taken
// two keys at a time with their int16 values interleaved:
//   O[r][c] += (max_n |w_rn| / 32767) · Σ_n ŵ_rn · v̂_nc,   exact in int32 (|Σ| < 64 · 2^15 · 2^7).
// Tiles whose weights hold inf or NaN (a row of V with a non-finite scale), V with channel scales
// and head dims that are not whole 32-column steps take the float kernel.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "attune/kernel/kv_rows.hpp"
#include "attune/kernel/quant_rows.hpp"
#include "attune/quant/int8.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

// Whether the integer P·V exists for this arch and V format (compiled with AVX-512 VNNI).
template <class Arch, class F>
inline constexpr bool integer_pv_available =
#if XSIMD_WITH_AVX512F && defined(__AVX512VNNI__) && defined(__AVX512BW__)
    std::is_same_v<F, quant::int8>&& simd::detail::arch_is<Arch, xsimd::avx512f>;
#else
    false;
#endif

// The weights of up to 4 rows for one tile as int16 pairs: pair[j][r] holds ŵ of keys 2j (low half)
// and 2j + 1 (high half) of row r, scale[r] what ŵ = 1 is worth.
struct int16_weight_pairs {
    static constexpr index_t max_keys = work_plan::kv_tile;
    alignas(64) std::int32_t pair[(max_keys + 1) / 2][4];
    float scale[4];
};

// The shapes it takes: whole 32-column steps, no channel scales on V, few rows (decode's).
inline bool integer_pv_fits(index_t rows, index_t dv, const quant::int8::head_params& hp) noexcept {
    return rows <= int8_query_rows::max_rows && dv % 32 == 0 && hp.channel == nullptr;
}

#if XSIMD_WITH_AVX512F && defined(__AVX512VNNI__) && defined(__AVX512BW__)
// Rows r0 … r0 + 3 of P (key-major, rows_padded apart; rows past `rows` read as 0) times each key's
// V scale, rounded to int16 pairs against each row's largest |w| (4 rows in one 128-bit vector, the
// rounding the CPU's, to nearest even). False, with nothing usable in `out`, when a weight is inf
// or NaN (a V row holding inf or NaN has a NaN scale; a NaN query row has NaN weights): the float
// kernel then carries them to the rows that see them.
template <class Bytes>
inline bool round_weights(const float* p, index_t rows_padded, index_t r0, index_t rows, const quant_rows<quant::int8, Bytes>& v,
                          index_t nk, int16_weight_pairs& out) noexcept {
    alignas(16) float w[work_plan::kv_tile + 1][4];
    const int rr = static_cast<int>(rows - r0 < 4 ? rows - r0 : 4);
    const auto live = static_cast<__mmask8>((1u << rr) - 1u);
    const __m128 sign = _mm_set1_ps(-0.0f), big = _mm_set1_ps(3.4e38f);
    __m128 amax = _mm_setzero_ps();
    __m128 finite = _mm_castsi128_ps(_mm_set1_epi32(-1));
    for (index_t n = 0; n < nk; ++n) {
        const __m128 x =
            _mm_mul_ps(_mm_maskz_loadu_ps(live, p + n * rows_padded + r0), _mm_set1_ps(quant::int8::row_scale(v.hp, v.row(n))));
        const __m128 ax = _mm_andnot_ps(sign, x);
        finite = _mm_and_ps(finite, _mm_cmp_ps(ax, big, _CMP_LE_OQ));  // false for inf and NaN
        amax = _mm_max_ps(amax, ax);
        _mm_store_ps(w[n], x);
    }
    if (_mm_movemask_ps(finite) != 0xf) return false;
    _mm_store_ps(w[nk], _mm_setzero_ps());  // an odd tile's last pair: weight 0
    _mm_storeu_ps(out.scale, _mm_mul_ps(amax, _mm_set1_ps(1.0f / 32767.0f)));
    const __m128 inv = _mm_and_ps(_mm_div_ps(_mm_set1_ps(32767.0f), amax), _mm_cmp_ps(amax, _mm_setzero_ps(), _CMP_GT_OQ));
    for (index_t j = 0; 2 * j < nk; ++j) {
        const __m128i lo = _mm_cvtps_epi32(_mm_mul_ps(_mm_load_ps(w[2 * j]), inv));
        const __m128i hi = _mm_cvtps_epi32(_mm_mul_ps(_mm_load_ps(w[2 * j + 1]), inv));
        // |ŵ| ≤ 32767: the packs do not saturate; (row r: key 2j low, 2j + 1 high) per 32-bit lane.
        const __m128i l16 = _mm_packs_epi32(lo, lo), h16 = _mm_packs_epi32(hi, hi);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out.pair[j]), _mm_unpacklo_epi16(l16, h16));
    }
    return true;
}

// O[r0 + r][c … c + 32) += scale_r · Σ_n ŵ_rn · v̂_n[c … c + 32) for RR rows: per pair of keys, the
// two rows' 32 bytes widened to int16 and interleaved (unpacklo/hi: columns {0–3, 8–11, 16–19,
// 24–27} and {4–7, 12–15, 20–23, 28–31}), one vpdpwssd per row and half; back in column order at
// the end of the tile.
template <int RR, class Bytes>
inline void integer_pv_columns(const int16_weight_pairs& w, const quant_rows<quant::int8, Bytes>& v, index_t nk, index_t c, float* o,
                               index_t o_stride) {
    __m512i acc[RR][2];
    for (int r = 0; r < RR; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_si512();
    for (index_t j = 0; 2 * j < nk; ++j) {
        const std::uint8_t* a = v.row(2 * j) + 4 + c;
        const std::uint8_t* b = v.row(2 * j + 1 < nk ? 2 * j + 1 : 2 * j) + 4 + c;  // past the tile: weight 0
        const __m512i va = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(a)));
        const __m512i vb = _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b)));
        const __m512i lo = _mm512_unpacklo_epi16(va, vb), hi = _mm512_unpackhi_epi16(va, vb);
        for (int r = 0; r < RR; ++r) {
            const __m512i wr = _mm512_set1_epi32(w.pair[j][r]);
            acc[r][0] = _mm512_dpwssd_epi32(acc[r][0], lo, wr);
            acc[r][1] = _mm512_dpwssd_epi32(acc[r][1], hi, wr);
        }
    }
    // 128-bit lane L of lo holds columns 8L … 8L + 3, of hi 8L + 4 … 8L + 7.
    const __m512i first = _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0);
    const __m512i second = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8);
    for (int r = 0; r < RR; ++r) {
        const __m512 l = _mm512_cvtepi32_ps(acc[r][0]), h = _mm512_cvtepi32_ps(acc[r][1]);
        const __m512 s = _mm512_set1_ps(w.scale[r]);
        float* out = o + r * o_stride + c;
        _mm512_storeu_ps(out, _mm512_fmadd_ps(_mm512_permutex2var_ps(l, first, h), s, _mm512_loadu_ps(out)));
        _mm512_storeu_ps(out + 16, _mm512_fmadd_ps(_mm512_permutex2var_ps(l, second, h), s, _mm512_loadu_ps(out + 16)));
    }
}

// O[0..rows)[0..dv) += Pᵀ · V for int8 V rows with integer products; false (nothing written) when
// a tile's weights are not finite, for the float kernel to take it.
template <class Arch, class Bytes>
inline bool integer_pv_tile(const float* p, index_t rows_padded, index_t rows, const quant_rows<quant::int8, Bytes>& v, index_t nk,
                            float* o, index_t dv) {
    int16_weight_pairs w[(int8_query_rows::max_rows + 3) / 4];
    for (index_t r0 = 0; r0 < rows; r0 += 4)
        if (!round_weights(p, rows_padded, r0, rows, v, nk, w[r0 / 4])) return false;  // before anything is written
    for (index_t r0 = 0; r0 < rows; r0 += 4) {
        const int rr = static_cast<int>(rows - r0 < 4 ? rows - r0 : 4);
        float* of = o + r0 * dv;
        for (index_t c = 0; c < dv; c += 32) {
            switch (rr) {
                case 1:
                    integer_pv_columns<1>(w[r0 / 4], v, nk, c, of, dv);
                    break;
                case 2:
                    integer_pv_columns<2>(w[r0 / 4], v, nk, c, of, dv);
                    break;
                case 3:
                    integer_pv_columns<3>(w[r0 / 4], v, nk, c, of, dv);
                    break;
                default:
                    integer_pv_columns<4>(w[r0 / 4], v, nk, c, of, dv);
                    break;
            }
        }
    }
    return true;
}
#else
template <class Arch, class Bytes>
inline bool integer_pv_tile(const float*, index_t, index_t, const quant_rows<quant::int8, Bytes>&, index_t, float*, index_t) {
    return false;
}
#endif

}  // namespace attune::kernel
