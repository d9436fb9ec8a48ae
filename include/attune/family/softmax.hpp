#pragma once
// Softmax family: the online-softmax update of a tile of scores (FlashAttention's streaming form,
// SPEC.md §1), vectorised across query rows. Scores arrive transposed, S[n][r] (key n, row r), so
// the row max, the exponentials and the row sums are plain lane-wise vector operations.
#include "attune/core/policy.hpp"
#include "attune/core/row_state.hpp"
#include "attune/simd/math.hpp"

namespace attune {

struct softmax {
    using policy_kind = family_kind;
    static constexpr bool has_lse = true;

    // Turns the scores S[0..nk)[0..rows_padded) into weights p = exp(s − m_new) in place, updates
    // the row states (m, l) and writes into alpha the factor by which each row's accumulator must
    // be rescaled. Returns false when every alpha is 1 (the max did not move), so the caller can
    // skip the rescale. A row that has seen only −inf keeps m = −inf, l = 0 and gets weights 0.
    template <class Arch>
    static bool update_tile(float* S, index_t nk, index_t rows_padded, float* m, float* l, float* alpha) {
        using V = simd::vec<Arch>;
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        bool rescale = false;
        for (index_t r = 0; r < rows_padded; r += W) {
            V tile_max = simd::broadcast<Arch>(neg_inf);
            for (index_t n = 0; n < nk; ++n) tile_max = simd::max(tile_max, simd::load_aligned<Arch>(S + n * rows_padded + r));
            const V m_old = simd::load_aligned<Arch>(m + r);
            const V m_new = simd::max(m_old, tile_max);
            const V m_ref = simd::replace_neg_inf(m_new, 0.0f);  // −inf − (−inf) would be NaN
            const V a = simd::exp(m_old - m_ref);
            V sum = simd::broadcast<Arch>(0.0f);
            for (index_t n = 0; n < nk; ++n) {
                float* s = S + n * rows_padded + r;
                const V p = simd::exp(simd::load_aligned<Arch>(s) - m_ref);
                simd::store_aligned<Arch>(s, p);
                sum += p;
            }
            simd::store_aligned<Arch>(l + r, simd::fma(simd::load_aligned<Arch>(l + r), a, sum));
            simd::store_aligned<Arch>(m + r, m_new);
            simd::store_aligned<Arch>(alpha + r, a);
            rescale = rescale || !simd::all_equal(a, 1.0f);
        }
        return rescale;
    }
};

}  // namespace attune
