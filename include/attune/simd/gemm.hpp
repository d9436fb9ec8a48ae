#pragma once
// The one register-blocked GEMM micro-kernel of the library:
//     C[r][c·W .. c·W + W) (+)= Σ_k a(r, k) · B_k[c·W .. c·W + W)    for RR rows × CC column vectors,
// one scalar of A broadcast against CC vectors of a row of B per step, RR × CC accumulators in
// registers (gemm_shape fills the register file). The tile engine's scores (A = K rows,
// B = Q packed transposed), its P·V (A = the weights read transposed, B = V rows) and every
// chunk-level product of the linear family are this block over different operands; what differs
// is how B's rows are loaded (aligned floats, any storage type widened, bf16 as pairs) and what is
// prefetched while it runs, both parameters.
#include <type_traits>

#include "attune/simd/caps.hpp"
#include "attune/simd/pairs.hpp"
#include "attune/simd/prefetch.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

namespace attune::simd {

// A(r, k) = a[r·row_stride + k·k_stride]: any of A and Aᵀ at no cost. A stride known at compile
// time (RowStep, KStep ≠ 0) lets each broadcast address be an immediate offset instead of taking a
// register per row of the block.
template <index_t RowStep = 0, index_t KStep = 0>
struct strided_scalars {
    const float* a;
    index_t row_stride, k_stride;  // used where the step is 0 (a run-time stride)
    index_t rs() const noexcept { return RowStep != 0 ? RowStep : row_stride; }
    index_t ks() const noexcept { return KStep != 0 ? KStep : k_stride; }
    float operator()(int r, index_t k) const { return a[r * rs() + k * ks()]; }
    strided_scalars at(index_t r0, index_t k0) const { return {a + r0 * rs() + k0 * ks(), row_stride, k_stride}; }
};
// The common operands: rows of A (unit steps along k), and A read transposed (unit steps along r).
using scalar_rows = strided_scalars<0, 1>;
using scalar_columns = strided_scalars<1, 0>;

// B's rows: row k = b + k·stride, CC vectors read from it. Aligned: float rows on vector
// boundaries. Pairs (bf16 on AVX-512, simd/pairs.hpp): vectors 2j and 2j + 1 are the even and odd
// elements of one 2·W block, so C holds those columns split.
template <class Arch, class T, bool Aligned = false, bool Pairs = false>
struct vector_rows {
    static_assert(!Aligned || std::is_same_v<T, float>, "vector_rows: aligned loads read floats");
    static constexpr int colvec_step = Pairs ? 2 : 1;  // column vectors come in these units
    const T* b;
    index_t stride;

    template <int CC>
    void load(index_t k, vec<Arch> (&x)[CC]) const {
        load_row<Arch, Aligned, Pairs>(b + k * stride, x);
    }
    vector_rows at(index_t k0, index_t col0) const { return {b + k0 * stride + col0, stride}; }

    // CC vectors of one row (see above for Aligned and Pairs).
    template <class A, bool Al, bool Pr, int CC>
    static void load_row(const T* row, vec<A> (&x)[CC]) {
        constexpr index_t W = static_cast<index_t>(width<A>);
        if constexpr (Pr) {
            ATTUNE_UNROLL_FULL for (int c = 0; c < CC; c += 2) simd::load_bf16_pairs<A>(row + c * W, x[c], x[c + 1]);
        } else if constexpr (Al) {
            ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) x[c] = simd::load_aligned<A>(row + c * W);
        } else {
            ATTUNE_UNROLL_FULL for (int c = 0; c < CC; ++c) x[c] = simd::load<A>(row + c * W);
        }
    }
};

// B's rows through a table of row pointers, row k = rows[k] + col: rows scattered over the pages
// of a paged cache.
template <class Arch, class T, bool Pairs = false>
struct table_rows {
    static constexpr int colvec_step = Pairs ? 2 : 1;
    const T* const* rows;
    index_t col;

    template <int CC>
    void load(index_t k, vec<Arch> (&x)[CC]) const {
        vector_rows<Arch, T, false, Pairs>::template load_row<Arch, false, Pairs>(rows[k] + col, x);
    }
    table_rows at(index_t k0, index_t col0) const { return {rows + k0, col + col0}; }
};

// clang-format off: each ATTUNE_UNROLL_FULL stays on the line of the loop it unrolls.
// What the block prefetches at step k; Cols: the elements of a row of B the block reads (known at
// compile time, so that prefetching a row is a fixed run of instructions, not a loop).
struct no_prefetch {
    template <index_t Cols>
    void at(index_t) noexcept {}
};
// A line of the next operand every other step (prefetch_stream).
struct every_other_step {
    prefetch_stream stream;
    template <index_t Cols>
    ATTUNE_PREFETCH_INLINE void at(index_t k) noexcept {
        if (k & 1) stream.step();
    }
};
// Decode: B's own rows a few steps ahead into L1 and further into L2.
template <class T>
struct rows_ahead {
    const T* b;
    index_t stride;
    template <index_t Cols>
    ATTUNE_PREFETCH_INLINE void at(index_t k) const noexcept {
        const char* near = reinterpret_cast<const char*>(b + (k + stream_prefetch_rows<T>)*stride);
        const char* far = reinterpret_cast<const char*>(b + (k + stream_prefetch_l2_rows<T>)*stride);
        constexpr index_t bytes = Cols * index_t(sizeof(T));
        ATTUNE_UNROLL_FULL for (index_t off = 0; off < bytes; off += 64) ATTUNE_PREFETCH(near + off, 3);
        ATTUNE_UNROLL_FULL for (index_t off = 0; off < bytes; off += 64) ATTUNE_PREFETCH(far + off, 2);
    }
};

// rows_ahead through a table of row pointers (table_rows); the table holds the rows ahead too.
template <class T>
struct table_rows_ahead {
    const T* const* rows;
    index_t col;
    template <index_t Cols>
    ATTUNE_PREFETCH_INLINE void at(index_t k) const noexcept {
        const char* near = reinterpret_cast<const char*>(rows[k + stream_prefetch_rows<T>] + col);
        const char* far = reinterpret_cast<const char*>(rows[k + stream_prefetch_l2_rows<T>] + col);
        constexpr index_t bytes = Cols * index_t(sizeof(T));
        ATTUNE_UNROLL_FULL for (index_t off = 0; off < bytes; off += 64) ATTUNE_PREFETCH(near + off, 3);
        ATTUNE_UNROLL_FULL for (index_t off = 0; off < bytes; off += 64) ATTUNE_PREFETCH(far + off, 2);
    }
};

template <class Arch, int RR, int CC, bool Accumulate, bool AlignedC, class A, class B, class Prefetch>
inline void gemm_block(const A& a, const B& b, index_t nk, float* c, index_t cs, Prefetch& prefetch) {
    using V = vec<Arch>;
    constexpr index_t W = static_cast<index_t>(width<Arch>);
    const auto load_c = [&](const float* p) { return AlignedC ? simd::load_aligned<Arch>(p) : simd::load<Arch>(p); };
    V acc[RR][CC];
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j) acc[r][j] =
        Accumulate ? load_c(c + r * cs + j * W) : simd::broadcast<Arch>(0.0f);
    Prefetch pf = prefetch;  // a local copy: the stores to c cannot alias it
#pragma GCC unroll 2
    for (index_t k = 0; k < nk; ++k) {
        pf.template at<CC * W>(k);
        V x[CC];
        b.template load<CC>(k, x);
        ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) {
            const V s = simd::broadcast<Arch>(a(r, k));
            ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j) acc[r][j] = fma(s, x[j], acc[r][j]);
        }
    }
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j) {
        if constexpr (AlignedC) simd::store_aligned<Arch>(c + r * cs + j * W, acc[r][j]);
        else simd::store<Arch>(c + r * cs + j * W, acc[r][j]);
    }
    prefetch = pf;
}

// clang-format on

// Runtime (rows, column vectors) → the template instance, for the ragged edges of a tile.
template <class Arch, int RR, int CC, bool Accumulate, bool AlignedC, class A, class B, class Prefetch>
inline void gemm_block_edge(int rr, int cc, const A& a, const B& b, index_t nk, float* c, index_t cs, Prefetch& prefetch) {
    if constexpr (RR > 1) {
        if (rr < RR) return gemm_block_edge<Arch, RR - 1, CC, Accumulate, AlignedC>(rr, cc, a, b, nk, c, cs, prefetch);
    }
    if constexpr (CC > B::colvec_step) {
        if (cc < CC) return gemm_block_edge<Arch, RR, CC - B::colvec_step, Accumulate, AlignedC>(rr, cc, a, b, nk, c, cs, prefetch);
    }
    gemm_block<Arch, RR, CC, Accumulate, AlignedC>(a, b, nk, c, cs, prefetch);
}

// The block of the arch's register shape, cut down to (rr ≤ rows, cc ≤ colvecs) at the edges.
template <class Arch, bool Accumulate, bool AlignedC, class A, class B, class Prefetch>
inline void gemm_block_of(int rr, int cc, const A& a, const B& b, index_t nk, float* c, index_t cs, Prefetch& prefetch) {
    gemm_block_edge<Arch, gemm_shape<Arch>::rows, gemm_shape<Arch>::colvecs, Accumulate, AlignedC>(rr, cc, a, b, nk, c, cs, prefetch);
}

// Which part of a product a row block needs: all of it, or only what a lower-triangular (causal,
// diagonal included) operand leaves nonzero.
enum class triangle {
    none,
    columns,  // row r needs output columns ≤ r: a row block computes up to its last row, in whole vectors
    depth,    // row r's A(r, k) is zero for k > offset + r: a row block sums k up to offset + its last row
};

// C[0..m)[0..colvecs·W) (+)= A[0..m)[0..nk) · B[0..nk)[0..colvecs·W), unaligned rows. B's rows from
// `split` on may come from a second operand b2 (the linear family's [S ; V] without a copy).
// Row blocks outer, column blocks inner: a row block's A stays in L1 while B's columns stream past.
template <class Arch, bool Accumulate, triangle Tri = triangle::none, class A = strided_scalars<>, class B = vector_rows<Arch, float>>
inline void gemm(const A& a, const B& b, index_t m, index_t nk, index_t colvecs, float* c, index_t cs, index_t depth_offset = 0,
                 index_t split = -1, const B* b2 = nullptr) {
    constexpr int RR = gemm_shape<Arch>::rows, CC = gemm_shape<Arch>::colvecs;
    constexpr index_t W = static_cast<index_t>(width<Arch>);
    if (b2 == nullptr || split > nk) split = nk;
    no_prefetch none;
    for (index_t r0 = 0; r0 < m; r0 += RR) {
        const int rr = static_cast<int>(m - r0 < RR ? m - r0 : RR);
        index_t row_colvecs = colvecs, row_nk = nk;
        if constexpr (Tri == triangle::columns) {
            const index_t need = (r0 + rr + W - 1) / W;
            row_colvecs = need < colvecs ? need : colvecs;
        }
        if constexpr (Tri == triangle::depth) row_nk = depth_offset + r0 + rr < nk ? depth_offset + r0 + rr : nk;
        const index_t first = split < row_nk ? split : row_nk;  // steps read from b, then from b2
        for (index_t j0 = 0; j0 < row_colvecs; j0 += CC) {
            const int cc = static_cast<int>(row_colvecs - j0 < CC ? row_colvecs - j0 : CC);
            float* cb = c + r0 * cs + j0 * W;
            gemm_block_edge<Arch, RR, CC, Accumulate, false>(rr, cc, a.at(r0, 0), b.at(0, j0 * W), first, cb, cs, none);
            if (first < row_nk)  // C now holds the first part's sums: add the rest (the same order of additions)
                gemm_block_edge<Arch, RR, CC, true, false>(rr, cc, a.at(r0, first), b2->at(0, j0 * W), row_nk - first, cb, cs, none);
        }
    }
}

}  // namespace attune::simd
