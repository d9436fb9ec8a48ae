#pragma once
// Decode scores on int8, q8_0 and q4_0 K as integer dot products (options::int8_query), on CPUs with
// AVX-512 VNNI: each query row is quantized to int8 on the fly (one scale per row; int8's channel
// scales folded into Q first), as llama.cpp quantizes Q for its dot products with a q8_0 cache, and
// vpdpbusd multiplies 64 K bytes by 64 Q bytes into 16 sums in one instruction where the float
// kernel needs four widening loads and sixteen FMAs. vpdpbusd takes unsigned × signed bytes: K is
// read as k + 128 (a flipped sign bit), and 128·Σq is taken back out.
//   int8  s[n][r] = scale_n · sq_r · (Σ_d (k_nd + 128)·q̂_rd − 128·Σ_d q̂_rd),   q_r ≈ sq_r · q̂_r
//   q8_0  s[n][r] = sq_r · Σ_blocks d_nb · Σ_{d ∈ b} k_nd·q̂_rd, one key a lane: 16 keys' bytes are
//         transposed so that one vpdpbusd takes 4 bytes of each key, each block's sum starts at
//         −128·(its Σ q̂), ends exact and is scaled by the 16 keys' d of the block in one FMA;
//   q4_0  the same with the nibbles n as the unsigned bytes (n − 8 the value): sums start at −8·Σ.
//   q4_1  (int4_group<32>, d·n + m) the same nibbles, sums from 0, and m_nb·(the block's Σ q̂) added
//         by one more FMA per block, row and 16 keys.
// Exact integer sums (|Σ| < 2^24 for dk ≤ 512); the error is Q's rounding to int8.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attune/kernel/quant_rows.hpp"
#include "attune/quant/blocks.hpp"
#include "attune/quant/int8.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/prefetch.hpp"
#include "attune/simd/transpose.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

// The K formats the integer kernel reads.
template <class F>
inline constexpr bool int8_dot_format =
    std::is_same_v<F, quant::int8> || std::is_same_v<F, quant::q8_0> || std::is_same_v<F, quant::q4_0> || std::is_same_v<F, quant::q4_1>;

// Whether the integer kernel exists for this arch and format (compiled with AVX-512 VNNI).
template <class Arch, class F>
inline constexpr bool int8_dot_available =
#if XSIMD_WITH_AVX512F && defined(__AVX512VNNI__) && defined(__AVX512BW__)
    int8_dot_format<F>&& simd::detail::arch_is<Arch, xsimd::avx512f>;
#else
    false;
#endif

// The shapes it takes: whole 64-byte vectors per row, a few query rows.
inline bool int8_dot_fits(index_t rows, index_t dk) noexcept {
    return rows <= int8_query_rows::max_rows && dk % 64 == 0 && dk <= int8_query_rows::max_dim;
}

// Query row q (dk floats, times the channel scales c when given) as int8 q̂ with q ≈ sq · q̂; returns
// sq and writes Σ q̂ into sum.
inline float quantize_query_row(const float* q, const float* c, index_t dk, std::int8_t* out, std::int32_t& sum) {
    float amax = 0.0f;
    for (index_t d = 0; d < dk; ++d) {
        const float x = c != nullptr ? q[d] * c[d] : q[d];
        amax = std::fabs(x) > amax ? std::fabs(x) : amax;
    }
    const float sq = amax / 127.0f, inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    sum = 0;
    for (index_t d = 0; d < dk; ++d) {
        const float x = c != nullptr ? q[d] * c[d] : q[d];
        const auto v = static_cast<std::int8_t>(std::nearbyint(x * inv));
        out[d] = v;
        sum += v;
    }
    return sq;
}

// The item's query rows in int8 (quantized on its first tile, kept for the others), padded with
// zero rows to a multiple of RB; c: int8's channel scales, or null; lane_offset: what each K byte
// holds above its value (128: a flipped int8, 8: a q4_0 nibble), taken out per 32-bit lane.
template <int RB>
inline int8_query_rows& query_rows(int8_query_rows& Q, const float* q, index_t q_stride, index_t rows, const float* c, index_t dk,
                                   std::int32_t lane_offset = 128) {
    if (Q.source == q) return Q;
    const index_t rows_padded = (rows + RB - 1) / RB * RB;
    for (index_t r = 0; r < rows_padded; ++r) {
        std::int32_t sum = 0;
        Q.scale[r] = 0.0f;
        if (r < rows) Q.scale[r] = quantize_query_row(q + r * q_stride, c, dk, Q.q[r], sum);
        else
            for (index_t d = 0; d < dk; ++d) Q.q[r][d] = 0;
        Q.correction[r] = 128.0f * static_cast<float>(sum);
        for (index_t l = 0; l < dk / 4; ++l)
            Q.lane_correction[r][l] = -lane_offset * (Q.q[r][4 * l] + Q.q[r][4 * l + 1] + Q.q[r][4 * l + 2] + Q.q[r][4 * l + 3]);
    }
    Q.source = q;
    return Q;
}

#if XSIMD_WITH_AVX512F && defined(__AVX512VNNI__) && defined(__AVX512BW__)
// A block's scores (lane i·RB + r: key n0 + i, row r0 + r) into S, each key's RB rows as one short
// copy, for the keys below nk.
template <int KB, int RB>
inline void store_key_scores(__m512 scores, index_t n0, index_t nk, float* s, index_t rows_padded, index_t r0) noexcept {
    alignas(64) float out[KB * RB];
    _mm512_store_ps(out, scores);
    ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
        if (n0 + i < nk) std::memcpy(s + (n0 + i) * rows_padded + r0, out + i * RB, sizeof(float) * RB);
    }
}

// S[0..nk)[0..rows_padded) for int8 K rows with Q quantized per row; rows ≤ 8, dk % 64 == 0.
template <class Arch, class Bytes>
inline void int8_dot_tile(const float* q, index_t q_stride, index_t rows, const quant_rows<quant::int8, Bytes>& k, index_t nk, index_t dk,
                          float* s, index_t rows_padded) {
    constexpr int KB = 4, RB = 4;
    static_assert(simd::width<Arch> == KB * RB, "int8_dot_tile: 16 lanes");
    int8_query_rows& Q = query_rows<RB>(*k.int8_query, q, q_stride, rows, k.hp.channel, dk);
    const auto& qs = Q.q;
    const float* sq = Q.scale;
    const float* corr = Q.correction;
    const index_t ahead = quant_prefetch_rows(dk, k.row_bytes), ahead_l2 = quant_prefetch_l2_rows(dk, k.row_bytes);
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const std::uint8_t* table[work_plan::kv_tile + 3];
    tile_row_table(k, nk, table);
    // Lane i·RB + r of the sums is key i, row r.
    const __m512i lane_key = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    const __m512i lane_row = _mm512_set_epi32(3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0, 3, 2, 1, 0);
    for (index_t r0 = 0; r0 < rows; r0 += RB) {
        const __m512 qsc = _mm512_permutexvar_ps(lane_row, _mm512_castps128_ps512(_mm_loadu_ps(sq + r0)));
        const __m512 qc = _mm512_permutexvar_ps(lane_row, _mm512_castps128_ps512(_mm_loadu_ps(corr + r0)));
        for (index_t n0 = 0; n0 < nk; n0 += KB) {
            const std::uint8_t* const* kr = table + n0;
            if (r0 == 0) prefetch_ahead<4>(k, n0, ahead, ahead_l2);
            __m512i acc[KB * RB];
            ATTUNE_UNROLL_FULL for (int i = 0; i < KB * RB; ++i) acc[i] = _mm512_setzero_si512();
            for (index_t d = 0; d < dk; d += 64) {
                __m512i qv[RB];
                ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) qv[r] = _mm512_load_si512(reinterpret_cast<const void*>(qs[r0 + r] + d));
                ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
                    const __m512i kv = _mm512_xor_si512(_mm512_loadu_si512(reinterpret_cast<const void*>(kr[i] + 4 + d)), flip);
                    ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) acc[i * RB + r] = _mm512_dpbusd_epi32(acc[i * RB + r], kv, qv[r]);
                }
            }
            // Each key's row scale into its four lanes, the sums corrected and scaled as one vector.
            alignas(16) float scale[KB];
            ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) scale[i] = quant::int8::row_scale(k.hp, kr[i]);
            const __m512 rs = _mm512_permutexvar_ps(lane_key, _mm512_castps128_ps512(_mm_load_ps(scale)));
            simd::vec<Arch> f[KB * RB];
            ATTUNE_UNROLL_FULL for (int i = 0; i < KB * RB; ++i) f[i] = simd::vec<Arch>(_mm512_cvtepi32_ps(acc[i]));
            const __m512 sums = simd::reduce_add_many(f);
            store_key_scores<KB, RB>(_mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(sums, qc), qsc), rs), n0, nk, s, rows_padded, r0);
        }
    }
}
// Four rows' scores of 16 keys (f[r], lane i: key i) into S, key-major: each key's four rows as
// one 128-bit store, for the keys below nk − n0.
ATTUNE_REGISTER_INLINE void store_rows_by_key(const __m512 (&f)[4], index_t n0, index_t nk, float* s, index_t rows_padded,
                                              index_t r0) noexcept {
    __m512 by_key[4] = {f[0], f[1], f[2], f[3]};
    simd::transpose_4x4_lanes(by_key);  // by_key[c], 128-bit lane L: key 4L + c
    const auto put = [&](int i, __m128 v) {
        if (n0 + i < nk) _mm_storeu_ps(s + (n0 + i) * rows_padded + r0, v);
    };
    ATTUNE_UNROLL_FULL for (int c = 0; c < 4; ++c) {
        put(c, _mm512_castps512_ps128(by_key[c]));
        put(4 + c, _mm512_extractf32x4_ps(by_key[c], 1));
        put(8 + c, _mm512_extractf32x4_ps(by_key[c], 2));
        put(12 + c, _mm512_extractf32x4_ps(by_key[c], 3));
    }
}

// The same for q8_0 and q4_0 K rows, one key a lane: per 64-byte step (blocks 2j and 2j + 1), the
// 16 keys' bytes as unsigned bytes in element order (q8_0: flipped, k + 128; q4_0: the nibbles n,
// n − 8 the value, unpacked: byte i holds elements i and i + 16) transposed so that vector c holds
// bytes 4c … 4c + 3 of each key; then per row one vpdpbusd a vector with those 4 bytes of q̂
// broadcast, into one sum per block started at −offset·(the block's Σ q̂) so that it ends exact,
// converted and scaled by the 16 keys' d of the block. One conversion and FMA per block, row and 16
// keys, where 16 lanes of one key and row took one per block pair, then a horizontal sum.
template <class F>
inline __m512i block_pair_bytes(const std::uint8_t* b) noexcept {
    constexpr index_t BB = F::block_bytes, at = std::is_same_v<F, quant::q4_1> ? 4 : 2;  // the codes after d (and q4_1's m)
    if constexpr (std::is_same_v<F, quant::q8_0>) {
        const __m256i lo = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2));
        const __m256i hi = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + BB + 2));
        return _mm512_xor_si512(_mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1), _mm512_set1_epi8(static_cast<char>(0x80)));
    } else {
        const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + at));
        const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + BB + at));
        const __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(b0), b1, 1);
        const __m256i nib = _mm256_set1_epi8(0x0f);
        const __m256i lo = _mm256_and_si256(y, nib), hi = _mm256_and_si256(_mm256_srli_epi16(y, 4), nib);
        // [b0 0–15, b1 0–15, b0 16–31, b1 16–31] → [b0 0–15, b0 16–31, b1 0–15, b1 16–31]
        const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
        return _mm512_shuffle_i64x2(z, z, 0 | (2 << 2) | (1 << 4) | (3 << 6));
    }
}

template <class Arch, class F, class Bytes,
          std::enable_if_t<std::is_same_v<F, quant::q8_0> || std::is_same_v<F, quant::q4_0> || std::is_same_v<F, quant::q4_1>, int> = 0>
inline void int8_dot_tile(const float* q, index_t q_stride, index_t rows, const quant_rows<F, Bytes>& k, index_t nk, index_t dk, float* s,
                          index_t rows_padded) {
    constexpr int KB = 16, RB = 4;
    constexpr index_t G = F::group, BB = F::block_bytes;
    static_assert(simd::width<Arch> == KB && G == 32, "int8_dot_tile: 16 lanes, blocks of 32");
    constexpr bool with_min = std::is_same_v<F, quant::q4_1>;  // d·n + m: no offset in the codes, m times the block's Σ q̂
    const int8_query_rows& Q = query_rows<RB>(*k.int8_query, q, q_stride, rows, nullptr, dk,
                                              std::is_same_v<F, quant::q8_0> ? 128
                                              : with_min                     ? 0
                                                                             : 8);
    const index_t ahead = quant_prefetch_rows(dk, k.row_bytes), ahead_l2 = quant_prefetch_l2_rows(dk, k.row_bytes);
    const std::uint8_t* table[work_plan::kv_tile + KB - 1];
    tile_row_table(k, nk, table, KB);
    const index_t blocks = dk / G;
    for (index_t r0 = 0; r0 < rows; r0 += RB) {
        // Each block's starting sum: its 8 lanes' corrections; q4_1: each block's Σ q̂, which m multiplies.
        std::int32_t start[RB][int8_query_rows::max_dim / 32];
        [[maybe_unused]] float block_sum[RB][with_min ? int8_query_rows::max_dim / 32 : 1];
        ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) for (index_t b = 0; b < blocks; ++b) {
            std::int32_t c = 0;
            for (index_t l = 8 * b; l < 8 * b + 8; ++l) c += Q.lane_correction[r0 + r][l];
            start[r][b] = c;
            if constexpr (with_min) {
                std::int32_t sum = 0;
                for (index_t d = G * b; d < G * b + G; ++d) sum += Q.q[r0 + r][d];
                block_sum[r][b] = static_cast<float>(sum);
            }
        }
        for (index_t n0 = 0; n0 < nk; n0 += KB) {
            const std::uint8_t* const* kr = table + n0;
            if (r0 == 0) ATTUNE_UNROLL_FULL for (int i = 0; i < KB; i += 4) prefetch_ahead<4>(k, n0 + i, ahead, ahead_l2);
            __m512 f[RB];
            ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) f[r] = _mm512_setzero_ps();
            for (index_t d = 0; d < dk; d += 2 * G) {
                const index_t b = d / G;
                __m512i x[KB];
                alignas(64) std::uint32_t scale_bits[KB];                                // the keys' d of blocks b (low half) and b + 1
                [[maybe_unused]] alignas(64) std::uint32_t min_bits[with_min ? KB : 1];  // q4_1: their m
                ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
                    const std::uint8_t* p = kr[i] + b * BB;
                    x[i] = block_pair_bytes<F>(p);
                    std::uint16_t lo, hi;
                    std::memcpy(&lo, p, 2);
                    std::memcpy(&hi, p + BB, 2);
                    scale_bits[i] = std::uint32_t{lo} | std::uint32_t{hi} << 16;
                    if constexpr (with_min) {
                        std::memcpy(&lo, p + 2, 2);
                        std::memcpy(&hi, p + BB + 2, 2);
                        min_bits[i] = std::uint32_t{lo} | std::uint32_t{hi} << 16;
                    }
                }
                simd::transpose_16x16(x);
                const __m512i sb = _mm512_load_si512(reinterpret_cast<const void*>(scale_bits));
                const __m512 d0 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(sb)),
                             d1 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(sb, 16)));
                [[maybe_unused]] __m512 m0 = _mm512_setzero_ps(), m1 = m0;
                if constexpr (with_min) {
                    const __m512i mb = _mm512_load_si512(reinterpret_cast<const void*>(min_bits));
                    m0 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(mb));
                    m1 = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(mb, 16)));
                }
                ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) {
                    const std::int8_t* qr = Q.q[r0 + r] + d;
                    const auto word = [&](int c) {
                        std::int32_t w;
                        std::memcpy(&w, qr + 4 * c, 4);
                        return _mm512_set1_epi32(w);
                    };
                    __m512i a0 = _mm512_set1_epi32(start[r][b]), a1 = _mm512_set1_epi32(start[r][b + 1]);
                    ATTUNE_UNROLL_FULL for (int c = 0; c < 8; ++c) {
                        a0 = _mm512_dpbusd_epi32(a0, x[c], word(c));
                        a1 = _mm512_dpbusd_epi32(a1, x[8 + c], word(8 + c));
                    }
                    f[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0), d0, f[r]);
                    f[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1), d1, f[r]);
                    if constexpr (with_min) {
                        f[r] = _mm512_fmadd_ps(_mm512_set1_ps(block_sum[r][b]), m0, f[r]);
                        f[r] = _mm512_fmadd_ps(_mm512_set1_ps(block_sum[r][b + 1]), m1, f[r]);
                    }
                }
            }
            ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) f[r] = _mm512_mul_ps(f[r], _mm512_set1_ps(Q.scale[r0 + r]));
            store_rows_by_key(f, n0, nk, s, rows_padded, r0);
        }
    }
}
#else
template <class Arch, class F, class Bytes>
inline void int8_dot_tile(const float*, index_t, index_t, const quant_rows<F, Bytes>&, index_t, index_t, float*, index_t) {}
#endif

}  // namespace attune::kernel
