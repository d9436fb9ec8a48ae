#pragma once
// The decode tile products on quantized K/V rows (quant/format.hpp), dequantized in registers:
// each vector of a row is loaded and widened once (F::load) and used by every query row of the
// group; a row's one scale (int8's per-token scale, fp8's per-head scale) is applied once per key —
// to the dot product's sum, to the key's weight in P·V — not per element.
//   dot_tile  S[n][r] = Σ_d K[n][d]·q_r[d]  (the decode score stage's product, for quant_rows)
//   pv_tile   O[r][·] += Σ_n P[n][r]·V[n][·] (the decode P·V stage's product, for quant_rows)
// Both are overloads the stages reach by their K/V source's row type (kernel/quant_source.hpp).
// A format with a faster load for rows without special values (quant/format.hpp's finite_load:
// e4m3 without NaN) is read by it in every tile whose rows all pass a check of their bytes.
#include <cstdint>

#include "attune/kernel/kv_rows.hpp"
#include "attune/kernel/quant_int8_dot.hpp"
#include "attune/kernel/quant_int8_pv.hpp"
#include "attune/kernel/quant_rows.hpp"
#include "attune/kernel/microkernel.hpp"
#include "attune/quant/format.hpp"
#include "attune/simd/prefetch.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

// Elements of a row read as whole vectors: all but a tail of dim % W for formats without groups.
template <class Arch, class F>
inline index_t quant_vector_span(index_t dim) noexcept {
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    static_assert(F::group == 1 || F::group % W == 0, "quant: a vector may not straddle a block");
    return dim - dim % W;
}

// F's load, or its load_finite in a tile that quant_tile_finite passed.
template <class Arch, class F, bool Finite>
inline simd::vec<Arch> quant_load(const typename F::head_params& hp, const std::uint8_t* row, index_t d) {
    if constexpr (Finite) return F::template load_finite<Arch>(hp, row, d);
    else return F::template load<Arch>(hp, row, d);
}

// Whether every row of the tile passes F's row_finite (a format with load_finite).
template <class Arch, class F, class Bytes>
inline bool quant_tile_finite(const quant_rows<F, Bytes>& rows, index_t nk) {
    for (index_t n = 0; n < nk; ++n)
        if (!F::template row_finite<Arch>(rows.row(n), rows.row_bytes)) return false;
    return true;
}

// clang-format off: each ATTUNE_UNROLL_FULL stays on the line of the loop it unrolls.
template <class Arch, int KB, int RB, class F, bool Finite>
inline void quant_dot_block(const float* q, index_t q_stride, const std::uint8_t* const* k, const typename F::head_params& hp, index_t dk,
                            float* s, index_t rows_padded) {
    using V = simd::vec<Arch>;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    static_assert(KB * RB == W, "quant_dot_block: one accumulator per lane of the reduction");
    const index_t body = quant_vector_span<Arch, F>(dk);
    V acc[KB * RB];
    ATTUNE_UNROLL_FULL for (int i = 0; i < KB * RB; ++i) acc[i] = simd::broadcast<Arch>(0.0f);
    for (index_t d = 0; d < body; d += W) {
        V qv[RB];
        ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) qv[r] = simd::load<Arch>(q + r * q_stride + d);
        ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
            const V kv = quant_load<Arch, F, Finite>(hp, k[i], d);
            ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) acc[i * RB + r] = simd::fma(kv, qv[r], acc[i * RB + r]);
        }
    }
    alignas(64) float sums[W];
    simd::store_aligned<Arch>(sums, simd::reduce_add_many(acc));
    ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
        const float rs = F::row_scale(hp, k[i]);
        ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) {
            float t = sums[i * RB + r];
            if constexpr (F::group == 1)  // block formats have no tail
                for (index_t e = body; e < dk; ++e) t += F::value(hp, k[i], e) * q[r * q_stride + e];
            s[i * rows_padded + r] = rs * t;
        }
    }
}
// clang-format on

// dot_tile's float path, K read by F's load or (Finite) its load_finite.
template <class Arch, bool Finite, class F, class Bytes>
inline void quant_dot_tile(const float* q, index_t q_stride, index_t rows, const quant_rows<F, Bytes>& k, index_t nk, index_t dk, float* s,
                           index_t rows_padded) {
    constexpr int KB = dot_shape<Arch>::keys, RB = dot_shape<Arch>::rows;
    const index_t ahead = quant_prefetch_rows(dk, k.row_bytes), ahead_l2 = quant_prefetch_l2_rows(dk, k.row_bytes);
    for (index_t r0 = 0; r0 < rows; r0 += RB)
        for (index_t n0 = 0; n0 < nk; n0 += KB) {
            const std::uint8_t* kr[KB];
            block_rows<KB>(k, n0, nk, ahead, ahead_l2, r0 == 0, kr);
            quant_dot_block<Arch, KB, RB, F, Finite>(q + r0 * q_stride, q_stride, kr, k.hp, dk, s + n0 * rows_padded + r0, rows_padded);
        }
}

// S[0..nk)[0..rows_padded) = K · Qᵀ for quantized K rows; as dot_tile (kernel/microkernel.hpp).
template <class Arch, class TK, bool Pairs, class F, class Bytes>
inline void dot_tile(const float* q, index_t q_stride, index_t rows, const quant_rows<F, Bytes>& k, index_t nk, index_t dk, float* s,
                     index_t rows_padded) {
    static_assert(!Pairs, "quant: no bf16 pairs");
    if constexpr (int8_dot_available<Arch, F>) {
        if (k.int8_query != nullptr && int8_dot_fits(rows, dk)) return int8_dot_tile<Arch>(q, q_stride, rows, k, nk, dk, s, rows_padded);
    }
    if constexpr (quant::has_finite_load_v<F>) {
        if (quant_tile_finite<Arch>(k, nk)) return quant_dot_tile<Arch, true>(q, q_stride, rows, k, nk, dk, s, rows_padded);
    }
    quant_dot_tile<Arch, false>(q, q_stride, rows, k, nk, dk, s, rows_padded);
}

// clang-format off
// O[r0 + r][c0·W + c·W …] += Σ_n W[n][r]·V[n][…] for RR rows × CC column vectors, V dequantized once
// per key for all RR rows; W: the weights with each key's row scale folded in (w, RR apart), read
// as broadcasts from memory (a load, not a shuffle: the shuffle port also widens the bytes).
template <class Arch, int RR, int CC, bool Finite, class F, class Bytes>
inline void quant_pv_block(const float* w, const quant_rows<F, Bytes>& v, index_t col, index_t nk, float* o, index_t o_stride,
                           index_t ahead, index_t ahead_l2, bool prefetch) {
    using V = simd::vec<Arch>;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    V acc[RR][CC];
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) acc[r][c] = simd::load<Arch>(o + r * o_stride + c * W);
    for (index_t n = 0; n < nk; ++n) {
        const std::uint8_t* row = v.row(n);
        if (prefetch) {
            simd::prefetch_row(v.row(n + ahead), v.row_bytes);
            simd::prefetch_row_l2(v.row(n + ahead_l2), v.row_bytes);
        }
        V vv[CC];
        ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) vv[c] = quant_load<Arch, F, Finite>(v.hp, row, col + c * W);
        ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) {
            const V wr = simd::broadcast<Arch>(w[n * RR + r]);
            ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) acc[r][c] = simd::fma(wr, vv[c], acc[r][c]);
        }
    }
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) simd::store<Arch>(o + r * o_stride + c * W, acc[r][c]);
}
// clang-format on

template <class Arch, int RR, bool Finite, class F, class Bytes>
inline void quant_pv_cols(int cc, const float* w, const quant_rows<F, Bytes>& v, index_t col, index_t nk, float* o, index_t o_stride,
                          index_t ahead, index_t ahead_l2, bool prefetch) {
    switch (cc) {
        case 1:
            return quant_pv_block<Arch, RR, 1, Finite>(w, v, col, nk, o, o_stride, ahead, ahead_l2, prefetch);
        case 2:
            return quant_pv_block<Arch, RR, 2, Finite>(w, v, col, nk, o, o_stride, ahead, ahead_l2, prefetch);
        case 3:
            return quant_pv_block<Arch, RR, 3, Finite>(w, v, col, nk, o, o_stride, ahead, ahead_l2, prefetch);
        default:
            return quant_pv_block<Arch, RR, 4, Finite>(w, v, col, nk, o, o_stride, ahead, ahead_l2, prefetch);
    }
}

// pv_tile's float path, V read by F's load or (Finite) its load_finite.
template <class Arch, bool Finite, class F, class Bytes>
inline void quant_pv_tile(const float* p, index_t rows_padded, index_t rows, const quant_rows<F, Bytes>& v, index_t nk, float* o,
                          index_t dv_padded) {
    static_assert(work_plan::kv_tile <= 64, "quant pv_tile: one tile's weights on the stack");
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    constexpr int RR = 4, CC = 4;
    const index_t colvecs = dv_padded / W;
    const index_t ahead = quant_prefetch_rows(dv_padded, v.row_bytes), ahead_l2 = quant_prefetch_l2_rows(dv_padded, v.row_bytes);
    alignas(64) float w[work_plan::kv_tile * RR];  // one row block's weights, key-major, row scales folded in
    for (index_t r0 = 0; r0 < rows; r0 += RR) {
        const int rr = static_cast<int>(rows - r0 < RR ? rows - r0 : RR);
        for (index_t n = 0; n < nk; ++n) {
            const float rs = F::row_scale(v.hp, v.row(n));
            for (int r = 0; r < rr; ++r) w[n * rr + r] = p[n * rows_padded + r0 + r] * rs;
        }
        for (index_t c0 = 0; c0 < colvecs; c0 += CC) {
            const int cc = static_cast<int>(colvecs - c0 < CC ? colvecs - c0 : CC);
            const bool prefetch = c0 == 0 && r0 == 0;
            float* of = o + r0 * dv_padded + c0 * W;
            switch (rr) {
                case 1:
                    quant_pv_cols<Arch, 1, Finite>(cc, w, v, c0 * W, nk, of, dv_padded, ahead, ahead_l2, prefetch);
                    break;
                case 2:
                    quant_pv_cols<Arch, 2, Finite>(cc, w, v, c0 * W, nk, of, dv_padded, ahead, ahead_l2, prefetch);
                    break;
                case 3:
                    quant_pv_cols<Arch, 3, Finite>(cc, w, v, c0 * W, nk, of, dv_padded, ahead, ahead_l2, prefetch);
                    break;
                default:
                    quant_pv_cols<Arch, 4, Finite>(cc, w, v, c0 * W, nk, of, dv_padded, ahead, ahead_l2, prefetch);
                    break;
            }
        }
    }
}

// O[0..rows)[0..dv_padded) += Pᵀ · V for quantized V rows (decode: every row sees the whole tile;
// dv_padded = dv, a multiple of the width, nk ≤ a kv tile). Blocks of 4 rows × 4 column vectors;
// the first block prefetches the rows ahead.
template <class Arch, class TV, bool Pairs, class F, class Bytes>
inline void pv_tile(const float* p, index_t rows_padded, index_t rows, const quant_rows<F, Bytes>& v, index_t nk, float* o,
                    index_t dv_padded) {
    static_assert(!Pairs, "quant: no bf16 pairs");
    if constexpr (int8_pv_available<Arch, F>) {
        if (v.int8_pv && int8_pv_fits<F>(rows, dv_padded, v.row_bytes, v.hp) &&
            int8_pv_tile<Arch>(p, rows_padded, rows, v, nk, o, dv_padded))
            return;
    }
    if constexpr (quant::has_finite_load_v<F>) {
        if (quant_tile_finite<Arch>(v, nk)) return quant_pv_tile<Arch, true>(p, rows_padded, rows, v, nk, o, dv_padded);
    }
    quant_pv_tile<Arch, false>(p, rows_padded, rows, v, nk, o, dv_padded);
}

}  // namespace attune::kernel
