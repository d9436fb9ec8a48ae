#pragma once
// The one register-blocked micro-kernel of the linear family: C (+)= A·B for a block of RR rows ×
// CC column vectors, A read element-wise through two strides (so Aᵀ costs nothing: the state update
// Kᵀ·V reads φ(K) row-major with the strides swapped) and B, C as rows of vectors. Every chunk-level
// product of the chunked forms (Q·S, Q·Kᵀ, (masked)·V, Kᵀ·V) is this kernel over different operands,
// with the block shape of the tile engine's P·V kernel (kernel::block_shape: 6×4 on AVX-512, 4×3 on
// 16-register archs) so the accumulators fill the register file without spilling.
#include "attune/kernel/microkernel.hpp"
#include "attune/simd/unroll.hpp"
#include "attune/simd/vec.hpp"

namespace attune::linear::detail {

template <class Arch>
inline constexpr index_t lanes = static_cast<index_t>(simd::width<Arch>);

// Rows × column vectors of one register block: the tile engine's P·V shape (4×4 and 8×2 measured
// no faster on AVX-512 for 64-row chunks).
template <class Arch>
struct gemm_shape {
    static constexpr int rows = kernel::block_shape<Arch>::pv_rows, colvecs = kernel::block_shape<Arch>::pv_colvecs;
};


// Floats per padded row: a multiple of 16 (the widest arch), so one layout serves every arch.
inline constexpr index_t pad_floats = 16;
inline index_t padded(index_t n) { return (n + pad_floats - 1) / pad_floats * pad_floats; }

// A(r, k) = a[r·ars + k·aks]; B row k = b + k·bs (CC·W floats); C row r = c + r·cs.
// A second B (b2, bs2) may hold the rows from `split` on: [S ; V] without copying V next to S.
template <class Arch, int RR, int CC, bool Accumulate>
inline void gemm_block(const float* a, index_t ars, index_t aks, const float* b, index_t bs, index_t nk, float* c,
                       index_t cs, index_t split, const float* b2, index_t bs2) {
    using V = simd::vec<Arch>;
    constexpr index_t W = lanes<Arch>;
    V acc[RR][CC];
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r)
        ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j)
            acc[r][j] = Accumulate ? simd::load<Arch>(c + r * cs + j * W) : simd::broadcast<Arch>(0.0f);
    const index_t nk1 = split < nk ? split : nk;
#pragma GCC unroll 2
    for (index_t k = 0; k < nk1; ++k) {
        V x[CC];
        ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j) x[j] = simd::load<Arch>(b + k * bs + j * W);
        ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) {
            const V s = simd::broadcast<Arch>(a[r * ars + k * aks]);
            ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j) acc[r][j] = simd::fma(s, x[j], acc[r][j]);
        }
    }
#pragma GCC unroll 2
    for (index_t k = nk1; k < nk; ++k) {
        V x[CC];
        ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j) x[j] = simd::load<Arch>(b2 + (k - split) * bs2 + j * W);
        ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r) {
            const V s = simd::broadcast<Arch>(a[r * ars + k * aks]);
            ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j) acc[r][j] = simd::fma(s, x[j], acc[r][j]);
        }
    }
    ATTUNE_UNROLL_FULL for (int r = 0; r < RR; ++r)
        ATTUNE_UNROLL_FULL for (int j = 0; j < CC; ++j) simd::store<Arch>(c + r * cs + j * W, acc[r][j]);
}

template <class Arch, int RR, int CC, bool Accumulate>
inline void gemm_block_dispatch(int rr, int cc, const float* a, index_t ars, index_t aks, const float* b, index_t bs,
                                index_t nk, float* c, index_t cs, index_t split, const float* b2, index_t bs2) {
    if constexpr (RR > 1) {
        if (rr < RR) return gemm_block_dispatch<Arch, RR - 1, CC, Accumulate>(rr, cc, a, ars, aks, b, bs, nk, c, cs, split, b2, bs2);
    }
    if constexpr (CC > 1) {
        if (cc < CC) return gemm_block_dispatch<Arch, RR, CC - 1, Accumulate>(rr, cc, a, ars, aks, b, bs, nk, c, cs, split, b2, bs2);
    }
    gemm_block<Arch, RR, CC, Accumulate>(a, ars, aks, b, bs, nk, c, cs, split, b2, bs2);
}

// Which part of the product a row block needs: all of it, or only what a lower-triangular
// (causal, diagonal included) operand leaves nonzero.
enum class triangle {
    none,
    columns,  // row r needs output columns ≤ r: a row block computes up to its last row, in whole vectors
    depth,    // row r's A(r, k) is zero for k > offset + r: a row block sums k up to offset + its last row
};

// C[0..m)[0..colvecs·W) (+)= A[0..m)[0..nk) · B[0..nk)[0..colvecs·W); B's rows from `split` on are
// b2's rows (stride bs2) when b2 is given.
template <class Arch, bool Accumulate, triangle Tri = triangle::none>
inline void gemm(const float* a, index_t ars, index_t aks, const float* b, index_t bs, index_t m, index_t nk,
                 index_t colvecs, float* c, index_t cs, index_t depth_offset = 0, index_t split = -1,
                 const float* b2 = nullptr, index_t bs2 = 0) {
    if (b2 == nullptr) split = nk, b2 = b, bs2 = bs;  // one B (never a null pointer in the block)
    constexpr int RR = gemm_shape<Arch>::rows, CC = gemm_shape<Arch>::colvecs;
    constexpr index_t W = lanes<Arch>;
    for (index_t r0 = 0; r0 < m; r0 += RR) {
        const int rr = static_cast<int>(m - r0 < RR ? m - r0 : RR);
        index_t row_colvecs = colvecs, row_nk = nk;
        if constexpr (Tri == triangle::columns) {
            const index_t need = (r0 + rr + W - 1) / W;
            row_colvecs = need < colvecs ? need : colvecs;
        }
        if constexpr (Tri == triangle::depth) row_nk = depth_offset + r0 + rr < nk ? depth_offset + r0 + rr : nk;
        // Column blocks inner: this row block's A stays in L1 while B's columns stream past.
        for (index_t j0 = 0; j0 < row_colvecs; j0 += CC) {
            const int cc = static_cast<int>(row_colvecs - j0 < CC ? row_colvecs - j0 : CC);
            gemm_block_dispatch<Arch, RR, CC, Accumulate>(rr, cc, a + r0 * ars, ars, aks, b + j0 * W, bs, row_nk,
                                                          c + r0 * cs + j0 * W, cs, split, b2 + j0 * W, bs2);
        }
    }
}

}  // namespace attune::linear::detail
