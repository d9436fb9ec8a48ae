#pragma once
// Decode's P·V on int8, q8_0 and q4_0 V as integer dot products (options::int8_pv), on CPUs with
// AVX-512 VNNI. The float kernel widens every V byte to a float lane (two ALU operations per 16
// values) before its FMAs, and with a GQA group of 4 each widened vector feeds only 4 of them: the
// bytes saved by the format are spent again in the ALUs (bench/RESULTS.md, run 18). Here one
// vpdpbusd multiplies 4 keys × 16 columns of V's bytes by 4 weights per column in one instruction:
//   ŵ_rbn = round(255 · p_rn · |s_nb| / m_rb)     unsigned 8-bit weights of row r, V block b (int8:
//                                                  the whole row), key n; s_nb the key's scale of
//                                                  block b, m_rb = max_n p_rn · |s_nb| over the tile
//   O[r][c] += (m_rb / 255) · (Σ_n ŵ_rbn · v_nc − Σ_n ŵ_rbn · o_nb)
// with v_nc V's signed bytes as they are (int8, q8_0; o = 0) or q4_0's nibbles (value n − 8,
// o = 8), whose blocks with a negative scale (q4_0's is the sign of the block's largest value) are
// read as 15 − n (value (15 − n) − 7, o = 7) so that every weight is ≥ 0. The sums are exact in
// int32 (|Σ| ≤ 64 keys · 255 · 128); the error is the weights' rounding to 8 bits, as SageAttention
// rounds P to 8 bits for its P·V (Zhang et al., "SageAttention2", 2025) and as options::int8_query
// rounds Q. Four keys' rows are interleaved in registers (each 32-bit lane: one column of 4 keys)
// by two rounds of byte and word unpacks, and the columns put back in order once per tile. Tiles
// whose weights are not finite (a NaN query, an inf or NaN scale in V), or negative on int8 or
// q8_0 V (a scale < 0, which their quantizers never write), take the float kernel, which carries
// them to the rows that see them.
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attune/kernel/quant_int8_dot.hpp"
#include "attune/kernel/quant_rows.hpp"
#include "attune/quant/blocks.hpp"
#include "attune/quant/int8.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/transpose.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

// Whether the integer P·V exists for this arch and V format (compiled with AVX-512 VNNI).
template <class Arch, class F>
inline constexpr bool int8_pv_available = int8_dot_available<Arch, F> && !std::is_same_v<F, quant::q4_1>;

// How each format's V rows go into the kernel: `step` columns per pass (int8 and q8_0 one 64-byte
// vector of a row, q4_0 four blocks of nibbles).
template <class F>
struct int8_pv_layout;
template <>
struct int8_pv_layout<quant::int8> {
    static constexpr index_t step = 64;
};
template <>
struct int8_pv_layout<quant::q8_0> {
    static constexpr index_t step = 64;
};
template <>
struct int8_pv_layout<quant::q4_0> {
    static constexpr index_t step = 128;
};

// The shapes it takes: few rows (decode's), rows of exactly dv values in whole steps (dv: the
// accumulators' padded width), no channel scales on int8 V.
template <class F>
inline bool int8_pv_fits(index_t rows, index_t dv, index_t row_bytes, const typename F::head_params& hp) noexcept {
    if constexpr (std::is_same_v<F, quant::int8>) {
        if (hp.channel != nullptr) return false;
    } else {
        (void)hp;
    }
    return rows <= int8_query_rows::max_rows && dv % int8_pv_layout<F>::step == 0 && dv <= 512 && F::row_bytes(dv) == row_bytes;
}

// One tile's weights for a block of 4 rows: ŵ as bytes, 4 consecutive keys per 32-bit word
// (w[r][b][n]), what ŵ = 1 is worth, and Σ_n ŵ·o_nb, per row and V block.
struct int8_pv_weights {
    static constexpr index_t max_keys = work_plan::kv_tile, max_blocks = 512 / 32;
    alignas(64) std::uint8_t w[4][max_blocks][max_keys];
    alignas(64) float scale[4][max_blocks];
    alignas(64) std::int32_t offset[4][max_blocks];
};
// q4_0: which (block, key) reads its nibbles flipped (0xff: a negative scale), 4 keys per word.
struct int8_pv_flips {
    alignas(64) std::uint8_t f[int8_pv_weights::max_blocks][int8_pv_weights::max_keys];
};

#if XSIMD_WITH_AVX512F && defined(__AVX512VNNI__) && defined(__AVX512BW__)
// The V scales of the tile's keys, block-major: sc[b][n] (0 past nk; int8: one block). Block
// formats of 2 or 4 blocks a row (head dims 64 and 128) read each key's scales into one word and
// put them block-major with a word permute: one store a key where a store a scale queued 256 a
// tile behind the loads that read them back.
template <class F, class Bytes>
inline void v_scales(const quant_rows<F, Bytes>& v, index_t nk, index_t blocks, float (*sc)[int8_pv_weights::max_keys]) noexcept {
    constexpr index_t K = int8_pv_weights::max_keys;
    if constexpr (std::is_same_v<F, quant::int8>) {
        for (index_t n = 0; n < nk; ++n) sc[0][n] = quant::int8::row_scale(v.hp, v.row(n));
        for (index_t n = nk; n < K; ++n) sc[0][n] = 0.0f;
    } else {
        const auto bits = [&](const std::uint8_t* row, index_t b) {
            std::uint16_t h;
            std::memcpy(&h, row + b * F::block_bytes, 2);
            return std::uint64_t{h};
        };
        if (blocks == 2 || blocks == 4) {
            // Key-major words: key n's scales at words [n·blocks, (n + 1)·blocks).
            alignas(64) std::uint16_t words[K * 4];
            for (index_t n = 0; n < nk; ++n) {
                const std::uint8_t* row = v.row(n);
                if (blocks == 4) {
                    const std::uint64_t w = bits(row, 0) | bits(row, 1) << 16 | bits(row, 2) << 32 | bits(row, 3) << 48;
                    std::memcpy(words + 4 * n, &w, 8);
                } else {
                    const auto w = static_cast<std::uint32_t>(bits(row, 0) | bits(row, 1) << 16);
                    std::memcpy(words + 2 * n, &w, 4);
                }
            }
            std::memset(words + nk * blocks, 0, static_cast<std::size_t>((K - nk) * blocks) * 2);
            // Word i of a permute's result: key i % 16 of block b0 + i / 16.
            alignas(64) std::uint16_t order[32];
            for (int b0 = 0; b0 < blocks; b0 += 2) {
                for (int i = 0; i < 32; ++i) order[i] = static_cast<std::uint16_t>(i % 16 * blocks + b0 + i / 16);
                const __m512i idx = _mm512_load_si512(reinterpret_cast<const void*>(order));
                for (index_t n = 0; n < K; n += 16) {
                    const std::uint16_t* x = words + n * blocks;
                    const __m512i lo = _mm512_load_si512(reinterpret_cast<const void*>(x));
                    const __m512i hi = blocks == 4 ? _mm512_load_si512(reinterpret_cast<const void*>(x + 32)) : lo;
                    const __m512i two = _mm512_permutex2var_epi16(lo, idx, hi);
                    _mm512_store_ps(sc[b0] + n, _mm512_cvtph_ps(_mm512_castsi512_si256(two)));
                    _mm512_store_ps(sc[b0 + 1] + n, _mm512_cvtph_ps(_mm512_extracti64x4_epi64(two, 1)));
                }
            }
            return;
        }
        alignas(64) std::uint16_t h[int8_pv_weights::max_blocks][K];
        for (index_t n = 0; n < nk; ++n) {
            const std::uint8_t* row = v.row(n);
            for (index_t b = 0; b < blocks; ++b) h[b][n] = static_cast<std::uint16_t>(bits(row, b));
        }
        for (index_t b = 0; b < blocks; ++b) {
            for (index_t n = nk; n < K; ++n) h[b][n] = 0;
            for (index_t n = 0; n < K; n += 16)
                _mm512_store_ps(sc[b] + n, _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(h[b] + n))));
        }
    }
}

// Rows 0 … 3 of P (key-major, rows_padded ≥ 4 apart) for keys 0 … 15 as four vectors, lane i key
// i: four keys' rows a vector (keys k, k + 4, k + 8, k + 12 in its 128-bit lanes), then a 4 × 4
// transpose in each 128-bit lane. Loads and in-lane shuffles where a gather a row was slow.
ATTUNE_REGISTER_INLINE void p_rows4(const float* p, index_t rows_padded, __m512 (&out)[4]) noexcept {
    ATTUNE_UNROLL_FULL for (int k = 0; k < 4; ++k) {
        __m512 z = _mm512_zextps128_ps512(_mm_loadu_ps(p + k * rows_padded));
        z = _mm512_insertf32x4(z, _mm_loadu_ps(p + (k + 4) * rows_padded), 1);
        z = _mm512_insertf32x4(z, _mm_loadu_ps(p + (k + 8) * rows_padded), 2);
        out[k] = _mm512_insertf32x4(z, _mm_loadu_ps(p + (k + 12) * rows_padded), 3);
    }
    simd::transpose_4x4_lanes(out);
}

// Rows r0 … r0 + RR − 1 of P (key-major, rows_padded apart; p at row r0, whose block of four rows
// lies in each key's rows when `four_rows`) times the V scales' magnitudes, rounded
// to 8 bits against each (row, block)'s largest, and (q4_0) the blocks read flipped. False, with
// `out` unusable, when a weight is not finite, or (int8, q8_0) negative. The check is one unsigned
// maximum of the weights' bits: a NaN, an infinity or a sign bit makes it ≥ the bits of +inf.
template <class F, int RR>
inline bool round_weights(const float* p, index_t rows_padded, bool four_rows, index_t nk, index_t blocks,
                          const float (*sc)[int8_pv_weights::max_keys], int8_pv_weights& out, int8_pv_flips* flips) noexcept {
    constexpr index_t K = int8_pv_weights::max_keys;
    constexpr bool nibbles = std::is_same_v<F, quant::q4_0>;
    const __m512 zero = _mm512_setzero_ps();
    __m512 pr[RR][K / 16];
    ATTUNE_UNROLL_FULL for (int j = 0; j < K / 16; ++j) {
        if (four_rows && nk >= 16 * (j + 1)) {
            __m512 four[4];
            p_rows4(p + 16 * j * rows_padded, rows_padded, four);
            ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) pr[r][j] = four[r];
        } else {
            const __m512i idx = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                   _mm512_set1_epi32(static_cast<int>(rows_padded)));
            const auto live = static_cast<__mmask16>(nk > 16 * j ? (1u << (nk - 16 * j)) - 1u : 0u);
            ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) pr[r][j] =
                _mm512_mask_i32gather_ps(zero, live, idx, p + 16 * j * rows_padded + r, 4);
        }
    }
    // The 64 weights' bytes in key order from four vectors of 16: two packs (which interleave the
    // vectors' 128-bit lanes) and one permute of 32-bit groups.
    const __m512i order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
    static_assert(K == 64, "round_weights: a tile's weights as one vector of bytes");
    const __m512i inf_bits = _mm512_set1_epi32(0x7f800000);
    for (index_t b = 0; b < blocks; ++b) {
        __m512 s[K / 16];
        __mmask16 flip[K / 16];
        ATTUNE_UNROLL_FULL for (int j = 0; j < K / 16; ++j) {
            s[j] = _mm512_load_ps(sc[b] + 16 * j);
            flip[j] = nibbles ? _mm512_cmp_ps_mask(s[j], zero, _CMP_LT_OQ) : 0;
            if constexpr (nibbles) {
                s[j] = _mm512_abs_ps(s[j]);
                if (flips != nullptr) _mm_store_si128(reinterpret_cast<__m128i*>(flips->f[b] + 16 * j), _mm_movm_epi8(flip[j]));
            }
        }
        ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) {
            __m512 w[K / 16];
            __m512i top = _mm512_setzero_si512();
            ATTUNE_UNROLL_FULL for (int j = 0; j < K / 16; ++j) {
                w[j] = _mm512_mul_ps(pr[r][j], s[j]);
                top = _mm512_max_epu32(top, _mm512_castps_si512(w[j]));
            }
            // Every lane the largest (as the float order for finite weights ≥ +0).
            top = _mm512_max_epu32(top, _mm512_shuffle_i32x4(top, top, 0x4e));
            top = _mm512_max_epu32(top, _mm512_shuffle_i32x4(top, top, 0xb1));
            top = _mm512_max_epu32(top, _mm512_shuffle_epi32(top, _MM_PERM_BADC));
            top = _mm512_max_epu32(top, _mm512_shuffle_epi32(top, _MM_PERM_CDAB));
            if (_mm512_cmpge_epu32_mask(top, inf_bits) != 0) return false;
            const float m = _mm512_cvtss_f32(_mm512_castsi512_ps(top));
            out.scale[r][b] = m * (1.0f / 255.0f);
            const __m512 inv = _mm512_set1_ps(m > 0.0f ? 255.0f / m : 0.0f);
            __m512i q[K / 16];
            __m512i offset = _mm512_setzero_si512();
            ATTUNE_UNROLL_FULL for (int j = 0; j < K / 16; ++j) {
                q[j] = _mm512_cvtps_epi32(_mm512_mul_ps(w[j], inv));  // 0 … 255
                if constexpr (nibbles)
                    offset = _mm512_add_epi32(offset, _mm512_sub_epi32(_mm512_slli_epi32(q[j], 3), _mm512_maskz_mov_epi32(flip[j], q[j])));
            }
            const __m512i bytes = _mm512_packus_epi16(_mm512_packus_epi32(q[0], q[1]), _mm512_packus_epi32(q[2], q[3]));
            _mm512_store_si512(reinterpret_cast<void*>(out.w[r][b]), _mm512_permutexvar_epi32(order, bytes));
            out.offset[r][b] = nibbles ? _mm512_reduce_add_epi32(offset) : 0;
        }
    }
    return true;
}

// V's bytes of one key: `step` columns' signed bytes (q4_0: four blocks' 16 bytes of nibbles,
// unsplit).
template <class F>
inline __m512i v_bytes(const std::uint8_t* row, index_t c) noexcept {
    if constexpr (std::is_same_v<F, quant::int8>) {
        return _mm512_loadu_si512(reinterpret_cast<const void*>(row + 4 + c));
    } else if constexpr (std::is_same_v<F, quant::q8_0>) {
        const std::uint8_t* b = row + c / 32 * quant::q8_0::block_bytes + 2;
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
        const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + quant::q8_0::block_bytes));
        return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
    } else {
        constexpr index_t BB = quant::q4_0::block_bytes;
        const std::uint8_t* b = row + c / 32 * BB + 2;
        const __m512i x = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
        const __m512i y = _mm512_inserti32x4(x, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + BB)), 1);
        const __m512i z = _mm512_inserti32x4(y, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 2 * BB)), 2);
        return _mm512_inserti32x4(z, _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 3 * BB)), 3);
    }
}

// The 4 keys' vectors a, b, c, d interleaved: x[k], 128-bit lane L, 32-bit lane i holds byte
// 16L + 4k + i of each key, keys in order.
inline void interleave_keys(__m512i a, __m512i b, __m512i c, __m512i d, __m512i (&x)[4]) noexcept {
    const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
    const __m512i cd_lo = _mm512_unpacklo_epi8(c, d), cd_hi = _mm512_unpackhi_epi8(c, d);
    x[0] = _mm512_unpacklo_epi16(ab_lo, cd_lo);
    x[1] = _mm512_unpackhi_epi16(ab_lo, cd_lo);
    x[2] = _mm512_unpacklo_epi16(ab_hi, cd_hi);
    x[3] = _mm512_unpackhi_epi16(ab_hi, cd_hi);
}

// The 32-bit words at p, p + stride, … (4 keys' bytes of NB consecutive blocks), each broadcast
// over the 128-bit lanes its block's columns occupy in a step: int8 all, q8_0 two blocks (lanes 0–1,
// 2–3), q4_0 four (one lane each). Broadcast loads and lane inserts: no store is read back.
template <int NB>
inline __m512i block_words(const std::uint8_t* p, index_t stride) noexcept {
    const auto word = [&](int b) {
        std::int32_t w;
        std::memcpy(&w, p + b * stride, 4);
        return w;
    };
    if constexpr (NB == 1) {
        return _mm512_set1_epi32(word(0));
    } else if constexpr (NB == 2) {
        return _mm512_inserti64x4(_mm512_set1_epi32(word(0)), _mm256_set1_epi32(word(1)), 1);
    } else {
        static_assert(NB == 4, "block_words: 1, 2 or 4 blocks");
        const __m512i v = _mm512_inserti32x4(_mm512_set1_epi32(word(0)), _mm_set1_epi32(word(1)), 1);
        return _mm512_inserti32x4(_mm512_inserti32x4(v, _mm_set1_epi32(word(2)), 2), _mm_set1_epi32(word(3)), 3);
    }
}

// Rows r of an RR-row block, columns [c, c + step): the integer sums over the tile, then back in
// column order, offset taken out, scaled and added to O. The accumulators acc[r][v] hold, in
// 128-bit lane L, 32-bit lane i of vector v = 4h + k: the column 16L + 4k + i (int8, q8_0: h = 0)
// or 32L + 16h + 4k + i (q4_0: h = 0 the low nibbles, 1 the high ones).
template <class F, int RR, class Bytes>
inline void int8_pv_step(const int8_pv_weights& w, const int8_pv_flips& flips, const quant_rows<F, Bytes>& v,
                         const std::uint8_t* const* rows, index_t nk, index_t c, float* o, index_t o_stride, index_t ahead,
                         index_t ahead_l2, bool prefetch) {
    constexpr int NV = std::is_same_v<F, quant::q4_0> ? 8 : 4;
    // Columns per block (0: one scale per row) and blocks per step.
    constexpr index_t G = std::is_same_v<F, quant::int8> ? 0 : 32;
    constexpr int nb = std::is_same_v<F, quant::int8> ? 1 : std::is_same_v<F, quant::q8_0> ? 2 : 4;
    const index_t b0 = G == 0 ? 0 : c / G;
    __m512i acc[RR * NV];
    ATTUNE_UNROLL_FULL for (int i = 0; i < RR * NV; ++i) acc[i] = _mm512_setzero_si512();
    for (index_t n0 = 0; n0 < nk; n0 += 4) {
        if (prefetch) prefetch_ahead<4>(v, n0, ahead, ahead_l2);
        __m512i x[NV];
        if constexpr (NV == 8) {
            __m512i raw[4];
            interleave_keys(v_bytes<F>(rows[n0], c), v_bytes<F>(rows[n0 + 1], c), v_bytes<F>(rows[n0 + 2], c), v_bytes<F>(rows[n0 + 3], c),
                            raw);
            // Blocks with a negative scale: both nibbles n → 15 − n.
            const __m512i flip = block_words<nb>(flips.f[b0] + n0, int8_pv_weights::max_keys);
            const __m512i nib = _mm512_set1_epi8(0x0f);
            ATTUNE_UNROLL_FULL for (int k = 0; k < 4; ++k) {
                const __m512i y = _mm512_xor_si512(raw[k], flip);
                x[k] = _mm512_and_si512(y, nib);
                x[4 + k] = _mm512_and_si512(_mm512_srli_epi16(y, 4), nib);
            }
        } else {
            __m512i four[4];
            interleave_keys(v_bytes<F>(rows[n0], c), v_bytes<F>(rows[n0 + 1], c), v_bytes<F>(rows[n0 + 2], c), v_bytes<F>(rows[n0 + 3], c),
                            four);
            ATTUNE_UNROLL_FULL for (int k = 0; k < 4; ++k) x[k] = four[k];
        }
        ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) {
            const __m512i wv = block_words<nb>(w.w[r][b0] + n0, int8_pv_weights::max_keys);
            ATTUNE_UNROLL_FULL for (int k = 0; k < NV; ++k) acc[r * NV + k] = _mm512_dpbusd_epi32(acc[r * NV + k], wv, x[k]);
        }
    }
    // Back in column order: vector m of a group of four (k = 0 … 3) gathers lane m of each.
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) {
        float* out = o + r * o_stride + c;
        ATTUNE_UNROLL_FULL for (int h = 0; h < NV / 4; ++h) {
            const __m512i* a = acc + r * NV + 4 * h;
            const __m512i t0 = _mm512_shuffle_i32x4(a[0], a[1], 0x44), t1 = _mm512_shuffle_i32x4(a[0], a[1], 0xee);
            const __m512i t2 = _mm512_shuffle_i32x4(a[2], a[3], 0x44), t3 = _mm512_shuffle_i32x4(a[2], a[3], 0xee);
            const __m512i col[4] = {_mm512_shuffle_i32x4(t0, t2, 0x88), _mm512_shuffle_i32x4(t0, t2, 0xdd),
                                    _mm512_shuffle_i32x4(t1, t3, 0x88), _mm512_shuffle_i32x4(t1, t3, 0xdd)};
            ATTUNE_UNROLL_FULL for (int m = 0; m < 4; ++m) {
                // Columns of this vector: int8/q8_0 16m …, q4_0 32m + 16h …; its block:
                const index_t first = NV == 8 ? 32 * m + 16 * h : 16 * m;
                const index_t b = G == 0 ? 0 : b0 + first / 32;
                const __m512i exact = _mm512_sub_epi32(col[m], _mm512_set1_epi32(w.offset[r][b]));
                const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(exact), _mm512_set1_ps(w.scale[r][b]));
                _mm512_storeu_ps(out + first, _mm512_add_ps(_mm512_loadu_ps(out + first), f));
            }
        }
    }
}

// O[0..rows)[0..dv) += Pᵀ · V with integer products; false (nothing written) when a tile's weights
// are not finite or not ≥ 0, for the float kernel to take it.
template <class Arch, class F, class Bytes>
inline bool int8_pv_tile(const float* p, index_t rows_padded, index_t rows, const quant_rows<F, Bytes>& v, index_t nk, float* o,
                         index_t dv) {
    constexpr index_t K = int8_pv_weights::max_keys, step = int8_pv_layout<F>::step;
    const index_t blocks = std::is_same_v<F, quant::int8> ? 1 : dv / 32;
    alignas(64) float sc[int8_pv_weights::max_blocks][K];
    v_scales(v, nk, blocks, sc);
    int8_pv_weights w[(int8_query_rows::max_rows + 3) / 4];
    int8_pv_flips flips;
    for (index_t r0 = 0; r0 < rows; r0 += 4) {
        const float* pr = p + r0;
        int8_pv_flips* f = r0 == 0 ? &flips : nullptr;
        const bool four = rows_padded - r0 >= 4;
        const bool ok = rows - r0 >= 4   ? round_weights<F, 4>(pr, rows_padded, four, nk, blocks, sc, w[r0 / 4], f)
                        : rows - r0 == 3 ? round_weights<F, 3>(pr, rows_padded, four, nk, blocks, sc, w[r0 / 4], f)
                        : rows - r0 == 2 ? round_weights<F, 2>(pr, rows_padded, four, nk, blocks, sc, w[r0 / 4], f)
                                         : round_weights<F, 1>(pr, rows_padded, four, nk, blocks, sc, w[r0 / 4], f);
        if (!ok) return false;  // before anything is written
    }
    const index_t ahead = quant_prefetch_rows(dv, v.row_bytes), ahead_l2 = quant_prefetch_l2_rows(dv, v.row_bytes);
    const std::uint8_t* table[K + 3];
    tile_row_table(v, nk, table);
    for (index_t r0 = 0; r0 < rows; r0 += 4) {
        float* of = o + r0 * dv;
        for (index_t c = 0; c < dv; c += step) {
            const bool prefetch = r0 == 0 && c == 0;
            switch (rows - r0 >= 4 ? 4 : rows - r0) {
                case 1:
                    int8_pv_step<F, 1>(w[r0 / 4], flips, v, table, nk, c, of, dv, ahead, ahead_l2, prefetch);
                    break;
                case 2:
                    int8_pv_step<F, 2>(w[r0 / 4], flips, v, table, nk, c, of, dv, ahead, ahead_l2, prefetch);
                    break;
                case 3:
                    int8_pv_step<F, 3>(w[r0 / 4], flips, v, table, nk, c, of, dv, ahead, ahead_l2, prefetch);
                    break;
                default:
                    int8_pv_step<F, 4>(w[r0 / 4], flips, v, table, nk, c, of, dv, ahead, ahead_l2, prefetch);
                    break;
            }
        }
    }
    return true;
}
#else
template <class Arch, class F, class Bytes>
inline bool int8_pv_tile(const float*, index_t, index_t, const quant_rows<F, Bytes>&, index_t, float*, index_t) {
    return false;
}
#endif

}  // namespace attune::kernel
