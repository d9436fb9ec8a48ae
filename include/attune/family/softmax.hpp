#pragma once
// Softmax family: the online-softmax update of a tile of scores (FlashAttention's streaming form,
// Dao et al. 2022), vectorised across query rows. Scores arrive transposed, S[n][r] (key n, row r), so
// the row max, the exponentials and the row sums are plain lane-wise vector operations.
#include "attune/core/policy.hpp"
#include "attune/core/row_state.hpp"
#include <limits>

#include "attune/simd/math.hpp"

namespace attune {

struct softmax {
    using policy_kind = family_kind;
    using hooks = provides<hook::update_tile, hook::live_rows>;
    static constexpr bool has_lse = true;
    // The engine keeps the online row state (m, l), rescales accumulators, finalises o = a / l and
    // merges split partials with ⊕ (family/sigmoid.hpp is the family without row statistics).
    static constexpr bool row_statistics = true;

    // The running max used as the exponent reference moves only when a tile's max exceeds it by
    // more than this (natural-log units): weights stay ≤ e^8, far from float overflow, and most
    // tiles then need no rescale of the accumulators (FlashAttention-4's conditional rescaling).
    // The final o = a / l and LSE = m + ln l are exact whatever reference was kept.
    static constexpr float rescale_threshold = 8.0f;

    // Turns the scores S[0..nk)[0..rows_padded) into weights p = exp(s − m) in place, updates the
    // row states (m, l) and writes into alpha the factor by which each row's accumulator must be
    // rescaled. Returns false when no accumulator needs it. A row that has seen only −inf keeps
    // m = −inf, l = 0 and gets weights 0.
    // live_rows (optional, 0: all): the rows that hold scores; lanes past them are padding the
    // engine never reads, so with ≤ 4 of them in one vector (decode) the exponentials of four keys
    // share one vector (simd::load_quads) and the padding lanes keep their scores.
    template <class Arch>
    static bool update_tile(float* S, index_t nk, index_t rows_padded, float* m, float* l, float* alpha,
                            [[maybe_unused]] index_t live_rows = 0) {
        using V = simd::vec<Arch>;
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        bool rescale = false;
        for (index_t r = 0; r < rows_padded; r += W) {
            // Four independent max chains: one chain would wait on the max latency every key.
            V mx[4] = {simd::broadcast<Arch>(neg_inf), simd::broadcast<Arch>(neg_inf), simd::broadcast<Arch>(neg_inf),
                       simd::broadcast<Arch>(neg_inf)};
            index_t n = 0;
            for (; n + 4 <= nk; n += 4)
                for (int c = 0; c < 4; ++c) mx[c] = simd::max(mx[c], simd::load_aligned<Arch>(S + (n + c) * rows_padded + r));
            for (; n < nk; ++n) mx[0] = simd::max(mx[0], simd::load_aligned<Arch>(S + n * rows_padded + r));
            const V tile_max = simd::max(simd::max(mx[0], mx[1]), simd::max(mx[2], mx[3]));
            const V m_old = simd::load_aligned<Arch>(m + r);
            V m_new = m_old;
            if (!simd::all_le(tile_max, m_old + simd::broadcast<Arch>(rescale_threshold))) {
                m_new = simd::max(m_old, tile_max);
                // Accumulators that hold something (finite m_old) and whose reference moved.
                rescale = rescale || !simd::all_le(m_new, simd::replace_neg_inf(m_old, std::numeric_limits<float>::infinity()));
            }
            const V m_ref = simd::replace_neg_inf(m_new, 0.0f);  // −inf − (−inf) would be NaN
            const V a = simd::exp(m_old - m_ref);
            V sum = simd::broadcast<Arch>(0.0f);
            index_t k = 0;
            if constexpr (simd::caps<Arch>::quads) {
                if (rows_padded == W && live_rows > 0 && live_rows <= 4) {
                    const V mq = simd::repeat_quad<Arch>(m_ref);
                    for (; k + 4 <= nk; k += 4) {
                        float* s = S + k * W;
                        const V p = simd::exp_nonpositive(simd::load_quads<Arch>(s, W) - mq);
                        simd::store_quads<Arch>(s, W, p);
                        sum += p;
                    }
                    sum = simd::sum_quads<Arch>(sum);
                }
            }
            for (; k < nk; ++k) {
                float* s = S + k * rows_padded + r;
                const V p = simd::exp_nonpositive(simd::load_aligned<Arch>(s) - m_ref);
                simd::store_aligned<Arch>(s, p);
                sum += p;
            }
            simd::store_aligned<Arch>(l + r, simd::fma(simd::load_aligned<Arch>(l + r), a, sum));
            simd::store_aligned<Arch>(m + r, m_new);
            simd::store_aligned<Arch>(alpha + r, a);
        }
        return rescale;
    }
};

}  // namespace attune
