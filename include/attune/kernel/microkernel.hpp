#pragma once
// The tile products of the engine, on the library's GEMM block (simd/gemm.hpp) and, for a few query
// rows, a dot-product kernel.
//
// Scores are computed transposed, S[n][r] = Σ_d K[n][d]·Qt[d][r]: a vector holds W query rows, so
// one K element is broadcast against it. K is read straight from the user's rows (or from a float
// copy of the tile for bf16/half), Q is packed once per work item as Qt[d][rows_padded], scaled.
// P·V then broadcasts P[n][r] against V[n][c..c+W): O[r][c] += Σ_n P[n][r]·V[n][c].
#include <cstring>
#include <utility>

#include "attune/kernel/kv_rows.hpp"
#include "attune/simd/gemm.hpp"
#include "attune/simd/pairs.hpp"
#include "attune/simd/prefetch.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

using simd::prefetch_stream;

// S[0..nk)[0..lanes) = K[0..nk) · Qt, rows_padded apart in Qt and S; lanes (a multiple of the
// width) defaults to all rows_padded.
// With vec_first/vec_last (a partial tile of a lane-wise mask): row vector c needs only keys
// [vec_first[c], vec_last[c]] (offsets; first > last: none), and a block of KR keys is computed
// only for the hull of the row vectors (of its RC block) that need one of its keys: the triangles
// of diagonal and window-edge tiles are skipped. Entries not computed keep whatever the buffer
// held; the caller's mask sets every one of them to −inf.
template <class Arch>
inline void score_tile(const float* qt, index_t rows_padded, const float* k, index_t k_stride, index_t nk, index_t dk, float* s,
                       index_t lanes = 0, const index_t* vec_first = nullptr, const index_t* vec_last = nullptr,
                       prefetch_stream next = {}) {
    constexpr int KR = simd::gemm_shape<Arch>::rows, RC = simd::gemm_shape<Arch>::colvecs;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    const index_t rowvecs = (lanes > 0 ? lanes : rows_padded) / W;
    simd::every_other_step pf{next};  // the V rows of the tile come into L2 while the scores run
    for (index_t c0 = 0; c0 < rowvecs; c0 += RC) {
        const index_t c_end = rowvecs - c0 < RC ? rowvecs : c0 + RC;
        for (index_t n0 = 0; n0 < nk; n0 += KR) {
            const int kr = static_cast<int>(nk - n0 < KR ? nk - n0 : KR);
            index_t ca = c0, cb = c_end - 1;
            if (vec_first != nullptr) {
                ca = cb = -1;
                for (index_t c = c0; c < c_end; ++c)
                    if (vec_first[c] <= n0 + kr - 1 && vec_last[c] >= n0) {
                        if (ca < 0) ca = c;
                        cb = c;
                    }
                if (ca < 0) continue;
            }
            simd::gemm_block_of<Arch, false, true>(kr, static_cast<int>(cb - ca + 1), simd::scalar_rows{k + n0 * k_stride, k_stride, 1},
                                                   simd::vector_rows<Arch, float, true>{qt + ca * W, rows_padded}, dk,
                                                   s + n0 * rows_padded + ca * W, rows_padded, pf);
        }
    }
}

// ---- scores for a few rows (decode): dot products along d, K read as contiguous vectors ----
// With few query rows the transposed form would waste most lanes and stride across K rows; here
// each K vector load feeds RB rows, and KB·RB = W accumulators are reduced in one haddp.
template <class Arch>
struct dot_shape {
    static constexpr int W = static_cast<int>(simd::width<Arch>);
    static constexpr int rows = W >= 4 ? 4 : W;
    static constexpr int keys = W / rows;
};

// S[n][r] for KB keys × RB rows: key rows at k[i], query rows q + r·q_stride (dk floats each).
// Pairs (bf16 K on AVX-512, simd/pairs.hpp): K's whole 2·W blocks are read as pairs and q holds
// those blocks split (even elements, then odd); the rest of q is in natural order.
// clang-format off: each ATTUNE_UNROLL_FULL stays on the line of the loop it unrolls.
template <class Arch, int KB, int RB, class TK, bool Pairs = false>
inline void dot_block(const float* q, index_t q_stride, const TK* const* k, index_t dk, float* s, index_t rows_padded) {
    using V = simd::vec<Arch>;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    static_assert(KB * RB == W, "dot_block: one accumulator per lane of the reduction");
    const index_t span = Pairs ? simd::paired_span<Arch>(dk) : 0;  // elements read as pairs
    const index_t body = dk - (dk - span) % W;                     // … then as vectors, then scalars
    // The first step multiplies instead of zero-filling the accumulators: GCC turns a zeroing
    // loop over this array into a memset it then fails to drop (a cost seen in the decode benchmarks).
    V acc[KB * RB];
    const auto step = [&](index_t d, bool first) {
        V qv[RB];
        ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) qv[r] = simd::load<Arch>(q + r * q_stride + d);
        ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
            const V kv = simd::load<Arch>(k[i] + d);
            ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) acc[i * RB + r] = first ? kv * qv[r] : simd::fma(kv, qv[r], acc[i * RB + r]);
        }
    };
    index_t d = 0;
    if constexpr (Pairs) {
        const auto pair_step = [&](index_t e, bool first) {
            V qe[RB], qo[RB];
            ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) {
                qe[r] = simd::load<Arch>(q + r * q_stride + e);
                qo[r] = simd::load<Arch>(q + r * q_stride + e + W);
            }
            ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
                V ke, ko;
                simd::load_bf16_pairs<Arch>(k[i] + e, ke, ko);
                ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) acc[i * RB + r] =
                    simd::fma(ko, qo[r], first ? ke * qe[r] : simd::fma(ke, qe[r], acc[i * RB + r]));
            }
        };
        if (span > 0) {
            pair_step(0, true);
            for (d = 2 * W; d < span; d += 2 * W) pair_step(d, false);
        }
    }
    if (d == 0) {
        if (body > 0) step(0, true), d = W;
        else ATTUNE_UNROLL_FULL for (int i = 0; i < KB * RB; ++i) acc[i] = simd::broadcast<Arch>(0.0f);
    }
    for (; d < body; d += W) step(d, false);
    // Lane i·RB + r of the sums is key i, row r: each key's RB rows go out as one short copy.
    alignas(64) float sums[W];
    simd::store_aligned<Arch>(sums, simd::reduce_add_many(acc));
    ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
        if (body == dk) {
            std::memcpy(s + i * rows_padded, sums + i * RB, sizeof(float) * RB);
            continue;
        }
        ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) {
            float t = sums[i * RB + r];
            for (index_t e = body; e < dk; ++e) t += to_float(k[i][e]) * q[r * q_stride + e];
            s[i * rows_padded + r] = t;
        }
    }
}
// clang-format on

// S[0..nk)[0..rows_padded) = K · Qᵀ with q rows [rows_padded][q_stride], padding rows zero.
// K rows of any storage type are read where they are (bf16/half widened in registers).
// Keys past nk in the last block repeat key nk−1 and land in S rows < round_up(nk, KB), which the
// caller's buffer holds; rows past the real ones land in padding lanes.
// K's rows: row(n) of a strided_rows or pointer_rows (kernel/kv_rows.hpp); a pointer table holds
// the rows prefetched ahead too.
template <class Arch, class TK, bool Pairs = false, class Rows>
inline void dot_tile(const float* q, index_t q_stride, index_t rows, const Rows& k, index_t nk, index_t dk, float* s, index_t rows_padded) {
    constexpr int KB = dot_shape<Arch>::keys, RB = dot_shape<Arch>::rows;
    for (index_t r0 = 0; r0 < rows; r0 += RB)
        for (index_t n0 = 0; n0 < nk; n0 += KB) {
            const TK* kr[KB];
            for (int i = 0; i < KB; ++i) kr[i] = k.row(n0 + i < nk ? n0 + i : nk - 1);
            // The block's L1 look-aheads first, then its L2 ones (faster than interleaved in the decode benchmarks).
            for (int i = 0; i < KB; ++i) simd::prefetch_row(k.row(n0 + i + simd::stream_prefetch_rows<TK>), dk);
            for (int i = 0; i < KB; ++i) simd::prefetch_row_l2(k.row(n0 + i + simd::stream_prefetch_l2_rows<TK>), dk);
            dot_block<Arch, KB, RB, TK, Pairs>(q + r0 * q_stride, q_stride, kr, dk, s + n0 * rows_padded + r0, rows_padded);
        }
}

// ---- P·V: O[r][c] += Σ_n P[n][r]·V[n][c], the GEMM block with A(r, n) = P[n][r] ----
// Stream (decode): V is read once from memory, so its rows a few keys ahead are prefetched;
// otherwise a line of the next tile every other key.
template <class Arch, int RR, int CC, class TV, bool Stream, bool Pairs = false>
inline void pv_blocks(int rr, int cc, const float* p, index_t rows_padded, const TV* v, index_t v_stride, index_t nk, float* o,
                      index_t o_stride, simd::every_other_step& next) {
    const simd::scalar_columns a{p, 1, rows_padded};
    const simd::vector_rows<Arch, TV, false, Pairs> b{v, v_stride};
    if constexpr (Stream) {
        simd::rows_ahead<TV> ahead{v, v_stride};
        simd::gemm_block_edge<Arch, RR, CC, true, true>(rr, cc, a, b, nk, o, o_stride, ahead);
    } else {
        simd::gemm_block_edge<Arch, RR, CC, true, true>(rr, cc, a, b, nk, o, o_stride, next);
    }
}

// O[0..rows)[0..dv_padded) += Pᵀ · V, V rows of at least dv_padded readable elements (float, or
// bf16/half widened in registers: worth it when few rows reuse each V load, as in decode).
// Stream: V is read once from memory (decode), so rows a few keys ahead are prefetched.
// Pairs (bf16 V on AVX-512): O's whole 2·W column blocks are held split (simd::join_pairs puts
// them back in order); columns past them stay in natural order.
// With row_first/row_last (rows that see only part of the tile): row r's weights are zero outside
// keys [row_first[r], row_last[r]] (offsets; first > last: none), so each row block runs over the
// hull of its rows' keys only.
template <class Arch, bool Stream, class TV, bool Pairs = false>
inline void pv_tile(const float* p, index_t rows_padded, index_t rows, const TV* v, index_t v_stride, index_t nk, float* o,
                    index_t dv_padded, const index_t* row_first = nullptr, const index_t* row_last = nullptr, prefetch_stream next = {}) {
    constexpr int RR = simd::gemm_shape<Arch>::rows, CC = simd::gemm_shape<Arch>::colvecs;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    static_assert(!Pairs || CC % 2 == 0, "pv_tile: pairs come in column blocks of 2·W");
    simd::every_other_step pf{next};
    const index_t colvecs = dv_padded / W;
    // Column blocks outer: one block's slice of V stays in L1 while every row block reuses it.
    for (index_t c0 = 0; c0 < colvecs; c0 += CC) {
        const int cc = static_cast<int>(colvecs - c0 < CC ? colvecs - c0 : CC);
        const int paired = Pairs ? cc - cc % 2 : 0;  // column vectors read as pairs, then one natural
        for (index_t r0 = 0; r0 < rows; r0 += RR) {
            const int rr = static_cast<int>(rows - r0 < RR ? rows - r0 : RR);
            index_t f = 0, l = nk - 1;
            if (row_first != nullptr) {
                f = 1, l = 0;
                for (int r = 0; r < rr; ++r) {
                    if (row_first[r0 + r] > row_last[r0 + r]) continue;
                    if (f > l) f = row_first[r0 + r], l = row_last[r0 + r];
                    else f = f < row_first[r0 + r] ? f : row_first[r0 + r], l = l > row_last[r0 + r] ? l : row_last[r0 + r];
                }
                if (f > l) continue;
            }
            const float* pw = p + f * rows_padded + r0;
            float* of = o + r0 * dv_padded + c0 * W;
            const TV* vf = v + f * v_stride + c0 * W;
            if constexpr (Pairs) {
                if (paired > 0)
                    pv_blocks<Arch, RR, CC, TV, Stream, true>(rr, paired, pw, rows_padded, vf, v_stride, l - f + 1, of, dv_padded, pf);
                if (paired < cc)
                    pv_blocks<Arch, RR, 1, TV, Stream>(rr, cc - paired, pw, rows_padded, vf + paired * W, v_stride, l - f + 1,
                                                       of + paired * W, dv_padded, pf);
            } else {
                pv_blocks<Arch, RR, CC, TV, Stream>(rr, cc, pw, rows_padded, vf, v_stride, l - f + 1, of, dv_padded, pf);
            }
        }
    }
}

// O[0..rows)[0..dv_padded) += Pᵀ · V for decode (Stream) with V's rows through a table of
// addresses (pointer_rows: a paged cache), every row seeing the whole tile; as pv_tile otherwise.
template <class Arch, int RR, int CC, class TV, bool Pairs>
inline void pv_table_blocks(int rr, int cc, const float* p, index_t rows_padded, const TV* const* v, index_t col, index_t nk, float* o,
                            index_t o_stride) {
    const simd::scalar_columns a{p, 1, rows_padded};
    const simd::table_rows<Arch, TV, Pairs> b{v, col};
    simd::table_rows_ahead<TV> ahead{v, col};
    simd::gemm_block_edge<Arch, RR, CC, true, true>(rr, cc, a, b, nk, o, o_stride, ahead);
}
template <class Arch, class TV, bool Pairs = false>
inline void pv_tile(const float* p, index_t rows_padded, index_t rows, const pointer_rows<TV>& v, index_t nk, float* o, index_t dv_padded) {
    constexpr int RR = simd::gemm_shape<Arch>::rows, CC = simd::gemm_shape<Arch>::colvecs;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    static_assert(!Pairs || CC % 2 == 0, "pv_tile: pairs come in column blocks of 2·W");
    const index_t colvecs = dv_padded / W;
    for (index_t c0 = 0; c0 < colvecs; c0 += CC) {
        const int cc = static_cast<int>(colvecs - c0 < CC ? colvecs - c0 : CC);
        const int paired = Pairs ? cc - cc % 2 : 0;
        for (index_t r0 = 0; r0 < rows; r0 += RR) {
            const int rr = static_cast<int>(rows - r0 < RR ? rows - r0 : RR);
            float* of = o + r0 * dv_padded + c0 * W;
            if constexpr (Pairs) {
                if (paired > 0) pv_table_blocks<Arch, RR, CC, TV, true>(rr, paired, p + r0, rows_padded, v.rows, c0 * W, nk, of, dv_padded);
                if (paired < cc)
                    pv_table_blocks<Arch, RR, 1, TV, false>(rr, cc - paired, p + r0, rows_padded, v.rows, (c0 + paired) * W, nk,
                                                            of + paired * W, dv_padded);
            } else {
                pv_table_blocks<Arch, RR, CC, TV, false>(rr, cc, p + r0, rows_padded, v.rows, c0 * W, nk, of, dv_padded);
            }
        }
    }
}

}  // namespace attune::kernel
