#pragma once
// The linear family's chunk-level products (Q·S, Q·Kᵀ, (masked)·V, Kᵀ·V) on the library's one GEMM
// micro-kernel (simd/gemm.hpp): A read element-wise through two strides, so Aᵀ costs nothing (the
// state update Kᵀ·V reads φ(K) row-major with the strides swapped); B and C rows of vectors.
#include "attune/simd/gemm.hpp"
#include "attune/simd/vec.hpp"

namespace attune::linear::detail {

template <class Arch>
inline constexpr index_t lanes = static_cast<index_t>(simd::width<Arch>);

template <class Arch>
using gemm_shape = simd::gemm_shape<Arch>;

// Floats per padded row: a multiple of 16 (the widest arch), so one layout serves every arch.
inline constexpr index_t pad_floats = 16;
inline index_t padded(index_t n) { return (n + pad_floats - 1) / pad_floats * pad_floats; }

using simd::triangle;

// C[0..m)[0..colvecs·W) (+)= A[0..m)[0..nk) · B[0..nk)[0..colvecs·W) with A(r, k) = a[r·ars + k·aks],
// B row k = b + k·bs and C row r = c + r·cs; B's rows from `split` on are b2's rows (stride bs2)
// when b2 is given.
template <class Arch, bool Accumulate, triangle Tri = triangle::none>
inline void gemm(const float* a, index_t ars, index_t aks, const float* b, index_t bs, index_t m, index_t nk, index_t colvecs, float* c,
                 index_t cs, index_t depth_offset = 0, index_t split = -1, const float* b2 = nullptr, index_t bs2 = 0) {
    using rows = simd::vector_rows<Arch, float>;
    const rows second{b2, bs2};
    simd::gemm<Arch, Accumulate, Tri>(simd::strided_scalars<>{a, ars, aks}, rows{b, bs}, m, nk, colvecs, c, cs, depth_offset, split,
                                      b2 != nullptr ? &second : nullptr);
}

}  // namespace attune::linear::detail
