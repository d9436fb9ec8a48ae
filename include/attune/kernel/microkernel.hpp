#pragma once
// Register-blocked micro-kernels of the tile engine.
//
// Scores are computed transposed, S[n][r] = Σ_d K[n][d]·Qt[d][r]: a vector holds W query rows, so
// one K element is broadcast against it. K is read straight from the user's rows (or from a float
// copy of the tile for bf16/half), Q is packed once per work item as Qt[d][rows_padded], scaled.
// P·V then broadcasts P[n][r] against V[n][c..c+W): O[r][c] += Σ_n P[n][r]·V[n][c].
// Block sizes: KR keys × RC row vectors (scores) and RR rows × CC column vectors (P·V), chosen
// per arch to fill the register file without spilling (block_shape below).
#include <cstring>
#include <utility>

#include "attune/simd/pairs.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

template <class Arch>
struct block_shape {
    // 32 registers (avx512): 6×4 accumulators + 4 loads + 1 broadcast.
    static constexpr int score_keys = 6, score_rowvecs = 4;
    static constexpr int pv_rows = 6, pv_colvecs = 4;
};
template <>
struct block_shape<simd::scalar> {
    static constexpr int score_keys = 4, score_rowvecs = 4;
    static constexpr int pv_rows = 4, pv_colvecs = 4;
};
#if XSIMD_WITH_SSE2 || XSIMD_WITH_NEON
// 16 registers: 4×3 accumulators + 3 loads + 1 broadcast.
template <class Arch>
struct narrow_block_shape {
    static constexpr int score_keys = 4, score_rowvecs = 3;
    static constexpr int pv_rows = 4, pv_colvecs = 3;
};
#endif
#if XSIMD_WITH_SSE2
template <> struct block_shape<xsimd::sse2> : narrow_block_shape<xsimd::sse2> {};
template <> struct block_shape<xsimd::sse3> : narrow_block_shape<xsimd::sse3> {};
template <> struct block_shape<xsimd::ssse3> : narrow_block_shape<xsimd::ssse3> {};
template <> struct block_shape<xsimd::sse4_1> : narrow_block_shape<xsimd::sse4_1> {};
template <> struct block_shape<xsimd::sse4_2> : narrow_block_shape<xsimd::sse4_2> {};
template <> struct block_shape<xsimd::fma3<xsimd::sse4_2>> : narrow_block_shape<xsimd::fma3<xsimd::sse4_2>> {};
template <> struct block_shape<xsimd::avx> : narrow_block_shape<xsimd::avx> {};
template <> struct block_shape<xsimd::fma3<xsimd::avx>> : narrow_block_shape<xsimd::fma3<xsimd::avx>> {};
template <> struct block_shape<xsimd::avx2> : narrow_block_shape<xsimd::avx2> {};
template <> struct block_shape<xsimd::fma3<xsimd::avx2>> : narrow_block_shape<xsimd::fma3<xsimd::avx2>> {};
#endif
#if XSIMD_WITH_NEON
template <> struct block_shape<xsimd::neon> : narrow_block_shape<xsimd::neon> {};
#endif

// The engine's next operand tile, brought into L2 a cache line at a time from inside the
// micro-kernel loops: the score kernel fetches the V rows its tile's P·V reads, P·V the next K tile.
// Each query tile streams its head's K/V, which at long contexts lives in L3; the hardware
// prefetchers restart at each tile boundary. Bursts of prefetches stall on the fill buffers, so one
// line goes out every other iteration (of 24 FMAs on avx512). Measured here, 1 thread: the score
// and P·V kernels over K/V 4× the size of L2, 166 → 191 GFLOP/s (hot in L1: 202); in the engine,
// fp32 causal D 128, L 4096 ~3% faster and L 2048 within the machine's noise.
struct prefetch_stream {
    const char* row = nullptr;
    index_t stride = 0, row_bytes = 0, rows = 0, offset = 0;  // bytes; rows left

    template <class T>
    static prefetch_stream of(const T* first_row, index_t row_stride, index_t rows, index_t row_elems) {
        return {reinterpret_cast<const char*>(first_row), row_stride * index_t(sizeof(T)), row_elems * index_t(sizeof(T)), rows, 0};
    }
    // One line into L2 (a hint: never faults), then on to the next; nothing once the rows are done.
    void step() noexcept {
        if (rows == 0) return;
        __builtin_prefetch(row + offset, 0, 2);
        offset += 64;
        if (offset >= row_bytes) offset = 0, row += stride, --rows;
    }
};

// ---- scores: S[n][r] for KR keys × RC row vectors ----
template <class Arch, int KR, int RC>
inline void score_block(const float* qt, index_t rows_padded, const float* k, index_t k_stride, index_t dk,
                        float* s, prefetch_stream& next) {
    using V = simd::vec<Arch>;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    V acc[KR][RC];
    ATTUNE_UNROLL_FULL for (int i = 0; i < KR; ++i)
        ATTUNE_UNROLL_FULL for (int c = 0; c < RC; ++c) acc[i][c] = simd::broadcast<Arch>(0.0f);
    prefetch_stream pf = next;  // a local copy: the stores to s cannot alias it
#pragma GCC unroll 2
    for (index_t d = 0; d < dk; ++d) {
        if (d & 1) pf.step();
        V q[RC];
        ATTUNE_UNROLL_FULL for (int c = 0; c < RC; ++c) q[c] = simd::load_aligned<Arch>(qt + d * rows_padded + c * W);
        ATTUNE_UNROLL_FULL for (int i = 0; i < KR; ++i) {
            const V b = simd::broadcast<Arch>(k[i * k_stride + d]);
            ATTUNE_UNROLL_FULL for (int c = 0; c < RC; ++c) acc[i][c] = simd::fma(b, q[c], acc[i][c]);
        }
    }
    ATTUNE_UNROLL_FULL for (int i = 0; i < KR; ++i)
        ATTUNE_UNROLL_FULL for (int c = 0; c < RC; ++c) simd::store_aligned<Arch>(s + i * rows_padded + c * W, acc[i][c]);
    next = pf;
}

// Runtime (kr, rc) → the template instance, for the ragged edges of a tile.
template <class Arch, int KR, int RC>
inline void score_block_dispatch(int kr, int rc, const float* qt, index_t rows_padded, const float* k, index_t k_stride,
                                 index_t dk, float* s, prefetch_stream& next) {
    if constexpr (KR > 1) {
        if (kr < KR) return score_block_dispatch<Arch, KR - 1, RC>(kr, rc, qt, rows_padded, k, k_stride, dk, s, next);
    }
    if constexpr (RC > 1) {
        if (rc < RC) return score_block_dispatch<Arch, KR, RC - 1>(kr, rc, qt, rows_padded, k, k_stride, dk, s, next);
    }
    score_block<Arch, KR, RC>(qt, rows_padded, k, k_stride, dk, s, next);
}

// S[0..nk)[0..lanes) = K[0..nk) · Qt, rows_padded apart in Qt and S; lanes (a multiple of the
// width) defaults to all rows_padded.
// With vec_first/vec_last (a partial tile of a lane-wise mask): row vector c needs only keys
// [vec_first[c], vec_last[c]] (offsets; first > last: none), and a block of KR keys is computed
// only for the hull of the row vectors (of its RC block) that need one of its keys: the triangles
// of diagonal and window-edge tiles are skipped. Entries not computed keep whatever the buffer
// held; the caller's mask sets every one of them to −inf.
template <class Arch>
inline void score_tile(const float* qt, index_t rows_padded, const float* k, index_t k_stride, index_t nk, index_t dk,
                       float* s, index_t lanes = 0, const index_t* vec_first = nullptr, const index_t* vec_last = nullptr,
                       prefetch_stream next = {}) {
    constexpr int KR = block_shape<Arch>::score_keys, RC = block_shape<Arch>::score_rowvecs;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    const index_t rowvecs = (lanes > 0 ? lanes : rows_padded) / W;
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
            score_block_dispatch<Arch, KR, RC>(kr, static_cast<int>(cb - ca + 1), qt + ca * W, rows_padded, k + n0 * k_stride,
                                               k_stride, dk, s + n0 * rows_padded + ca * W, next);
        }
    }
}

// Decode reads each K/V row once from memory. Prefetching keeps more requests in flight than the
// hardware prefetchers do alone: rows 8 keys ahead into L1, and rows 32 keys ahead into L2, so
// that the L1 prefetches find their lines close. Measured here, 1 thread, Hq 32 / Hkv 8, D 128,
// K/V from DRAM (Lk 32768): 10.0–10.2 GB/s with the L1 rows alone, 11.6–12.1 with both
// (2 threads: 20.8–21.6 → 25.6); K/V resident in L3: fp32 unchanged, bf16 ~8% slower. One
// level at 16 or 32 rows, or carrying the look-ahead across tile ends, was no better.
// 2-byte rows (bf16, half) look as many bytes ahead, twice the rows: bf16 from DRAM 11.4 → 9.5–10.9
// ms (Lk 32768), unchanged in L3 (Lk 8192).
// A prefetch past the end of the data is harmless: it never faults.
template <class T>
inline constexpr index_t stream_prefetch_rows = 8 * 4 / index_t(sizeof(T));
template <class T>
inline constexpr index_t stream_prefetch_l2_rows = 32 * 4 / index_t(sizeof(T));

template <class T>
inline void prefetch_row(const T* row, index_t n) {
    const char* p = reinterpret_cast<const char*>(row);
    for (index_t off = 0; off < n * index_t(sizeof(T)); off += 64) __builtin_prefetch(p + off, 0, 3);
}
template <class T>
inline void prefetch_row_l2(const T* row, index_t n) {
    const char* p = reinterpret_cast<const char*>(row);
    for (index_t off = 0; off < n * index_t(sizeof(T)); off += 64) __builtin_prefetch(p + off, 0, 2);
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
template <class Arch, int KB, int RB, class TK, bool Pairs = false>
inline void dot_block(const float* q, index_t q_stride, const TK* const* k, index_t dk, float* s, index_t rows_padded) {
    using V = simd::vec<Arch>;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    static_assert(KB * RB == W, "dot_block: one accumulator per lane of the reduction");
    const index_t span = Pairs ? simd::paired_span<Arch>(dk) : 0;  // elements read as pairs
    const index_t body = dk - (dk - span) % W;                        // … then as vectors, then scalars
    // The first step multiplies instead of zero-filling the accumulators: GCC turns a zeroing
    // loop over this array into a memset it then fails to drop (measured: ~5% of the kernel).
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
#if XSIMD_WITH_AVX512F
        const auto pair_step = [&](index_t e, bool first) {
            V qe[RB], qo[RB];
            ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r) {
                qe[r] = simd::load<Arch>(q + r * q_stride + e);
                qo[r] = simd::load<Arch>(q + r * q_stride + e + W);
            }
            ATTUNE_UNROLL_FULL for (int i = 0; i < KB; ++i) {
                V ke, ko;
                simd::load_bf16_pairs<Arch>(k[i] + e, ke, ko);
                ATTUNE_UNROLL_FULL for (int r = 0; r < RB; ++r)
                    acc[i * RB + r] = simd::fma(ko, qo[r], first ? ke * qe[r] : simd::fma(ke, qe[r], acc[i * RB + r]));
            }
        };
        if (span > 0) {
            pair_step(0, true);
            for (d = 2 * W; d < span; d += 2 * W) pair_step(d, false);
        }
#endif
    }
    if (d == 0) {
        if (body > 0) step(0, true), d = W;
        else
            ATTUNE_UNROLL_FULL for (int i = 0; i < KB * RB; ++i) acc[i] = simd::broadcast<Arch>(0.0f);
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

// S[0..nk)[0..rows_padded) = K · Qᵀ with q rows [rows_padded][q_stride], padding rows zero.
// K rows of any storage type are read where they are (bf16/half widened in registers).
// Keys past nk in the last block repeat key nk−1 and land in S rows < round_up(nk, KB), which the
// caller's buffer holds; rows past the real ones land in padding lanes.
template <class Arch, class TK, bool Pairs = false>
inline void dot_tile(const float* q, index_t q_stride, index_t rows, const TK* k, index_t k_stride, index_t nk,
                     index_t dk, float* s, index_t rows_padded) {
    constexpr int KB = dot_shape<Arch>::keys, RB = dot_shape<Arch>::rows;
    for (index_t r0 = 0; r0 < rows; r0 += RB)
        for (index_t n0 = 0; n0 < nk; n0 += KB) {
            const TK* kr[KB];
            for (int i = 0; i < KB; ++i) kr[i] = k + (n0 + i < nk ? n0 + i : nk - 1) * k_stride;
            // The block's L1 look-aheads first, then its L2 ones (measured faster than interleaved).
            for (int i = 0; i < KB; ++i) prefetch_row(k + (n0 + i + stream_prefetch_rows<TK>) * k_stride, dk);
            for (int i = 0; i < KB; ++i) prefetch_row_l2(k + (n0 + i + stream_prefetch_l2_rows<TK>) * k_stride, dk);
            dot_block<Arch, KB, RB, TK, Pairs>(q + r0 * q_stride, q_stride, kr, dk, s + n0 * rows_padded + r0, rows_padded);
        }
}

// ---- P·V: O[r][c] += Σ_n P[n][r]·V[n][c] for RR rows × CC column vectors ----
// Pairs (bf16 V on AVX-512, simd/pairs.hpp): the CC column vectors are CC/2 blocks of 2·W
// columns read as pairs, so O holds each block split (even columns, then odd).
template <class Arch, int RR, int CC, class TV, bool Stream, bool Pairs = false>
inline void pv_block(const float* p, index_t rows_padded, const TV* v, index_t v_stride, index_t nk, float* o,
                     index_t o_stride, prefetch_stream& next) {
    // Stream (decode): V rows a few keys ahead into L1; otherwise the next tile, a line every other key.
    using V = simd::vec<Arch>;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    static_assert(!Pairs || CC % 2 == 0, "pv_block: pairs come in column blocks of 2·W");
    V acc[RR][CC];
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r)
        ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) acc[r][c] = simd::load_aligned<Arch>(o + r * o_stride + c * W);
    prefetch_stream pf = next;
#pragma GCC unroll 2
    for (index_t n = 0; n < nk; ++n) {
        V x[CC];
        if constexpr (Stream) {
            prefetch_row(v + (n + stream_prefetch_rows<TV>) * v_stride, CC * W);
            prefetch_row_l2(v + (n + stream_prefetch_l2_rows<TV>) * v_stride, CC * W);
        }
        else if (n & 1) pf.step();
        if constexpr (Pairs) {
#if XSIMD_WITH_AVX512F
            ATTUNE_UNROLL_FULL for (int c = 0; c < CC; c += 2) simd::load_bf16_pairs<Arch>(v + n * v_stride + c * W, x[c], x[c + 1]);
#endif
        } else {
            ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) x[c] = simd::load<Arch>(v + n * v_stride + c * W);
        }
        ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) {
            const V b = simd::broadcast<Arch>(p[n * rows_padded + r]);
            ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) acc[r][c] = simd::fma(b, x[c], acc[r][c]);
        }
    }
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r)
        ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) simd::store_aligned<Arch>(o + r * o_stride + c * W, acc[r][c]);
    next = pf;
}

// Runtime (rr, cc) → the template instance (cc even with pairs).
template <class Arch, int RR, int CC, class TV, bool Stream, bool Pairs = false>
inline void pv_block_dispatch(int rr, int cc, const float* p, index_t rows_padded, const TV* v, index_t v_stride,
                              index_t nk, float* o, index_t o_stride, prefetch_stream& next) {
    if constexpr (RR > 1) {
        if (rr < RR)
            return pv_block_dispatch<Arch, RR - 1, CC, TV, Stream, Pairs>(rr, cc, p, rows_padded, v, v_stride, nk, o, o_stride, next);
    }
    constexpr int step = Pairs ? 2 : 1;
    if constexpr (CC > step) {
        if (cc < CC)
            return pv_block_dispatch<Arch, RR, CC - step, TV, Stream, Pairs>(rr, cc, p, rows_padded, v, v_stride, nk, o, o_stride, next);
    }
    pv_block<Arch, RR, CC, TV, Stream, Pairs>(p, rows_padded, v, v_stride, nk, o, o_stride, next);
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
                    index_t dv_padded, const index_t* row_first = nullptr, const index_t* row_last = nullptr,
                    prefetch_stream next = {}) {
    constexpr int RR = block_shape<Arch>::pv_rows, CC = block_shape<Arch>::pv_colvecs;
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    static_assert(!Pairs || CC % 2 == 0, "pv_tile: pairs come in column blocks of 2·W");
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
            const float* pf = p + f * rows_padded + r0;
            float* of = o + r0 * dv_padded + c0 * W;
            const TV* vf = v + f * v_stride + c0 * W;
            if constexpr (Pairs) {
                if (paired > 0)
                    pv_block_dispatch<Arch, RR, CC, TV, Stream, true>(rr, paired, pf, rows_padded, vf, v_stride, l - f + 1, of, dv_padded, next);
                if (paired < cc)
                    pv_block_dispatch<Arch, RR, 1, TV, Stream, false>(rr, cc - paired, pf, rows_padded, vf + paired * W, v_stride, l - f + 1,
                                                                      of + paired * W, dv_padded, next);
            } else {
                pv_block_dispatch<Arch, RR, CC, TV, Stream>(rr, cc, pf, rows_padded, vf, v_stride, l - f + 1, of, dv_padded, next);
            }
        }
    }
}

}  // namespace attune::kernel
