#pragma once
// The online-softmax row state (m, l, a) and its merge ⊕ (FlashAttention's streaming softmax):
//   (m_A, l_A, a_A) ⊕ (m_B, l_B, a_B) = (m, l_A e^{m_A−m} + l_B e^{m_B−m}, a_A e^{m_A−m} + a_B e^{m_B−m}),
//   m = max(m_A, m_B). Associative, commutative; the empty state (−inf, 0, 0) is its identity.
// The same operator serves split-KV decode, cascade (shared-prefix) attention and the Aaren scan.
// The −inf guard lives here, once: merging two empty states stays empty, never NaN.
#include <cmath>
#include <limits>

#include "attune/core/types.hpp"

namespace attune {

/// −∞ as a float: the LSE of a row with no visible key, the max of an empty state.
inline constexpr float neg_inf = -std::numeric_limits<float>::infinity();

/// The (m, l) part of a row's online-softmax state; the accumulator a is kept alongside by the
/// caller. The default state (−inf, 0) is empty, the identity of ⊕.
struct row_state {
    float m = neg_inf;                                 ///< running max of the scores seen
    float l = 0.0f;                                    ///< Σ exp(s − m)
    bool empty() const noexcept { return l == 0.0f; }  ///< whether no score was seen
    /// Natural-log sum-exp of the scores seen; −inf for an empty row, NaN when a NaN was seen.
    float lse() const noexcept { return l == 0.0f ? neg_inf : m + std::log(l); }
};

/// Weights to apply to each side's accumulator when merging; returns the merged state.
struct merge_weights {
    row_state state;  ///< the merged state
    float wa;         ///< weight of the first operand's accumulator
    float wb;         ///< weight of the second operand's accumulator
};

/// The ⊕ of two states: the merged state and the weights e^{m_A−m}, e^{m_B−m} for their accumulators.
inline merge_weights merge_coefficients(row_state a, row_state b) noexcept {
    const float m = a.m > b.m ? a.m : b.m;
    if (m == neg_inf) return {row_state{}, 0.0f, 0.0f};
    const float wa = a.m == neg_inf ? 0.0f : std::exp(a.m - m);
    const float wb = b.m == neg_inf ? 0.0f : std::exp(b.m - m);
    // x·wa + y·wb may be contracted into an FMA (aarch64; x86 with -mfma), which rounds only one of
    // the two products. One expression with the side of the larger max (weight exactly 1) first,
    // whichever argument holds it, keeps ⊕ exactly commutative (on a tie both weights are 1).
    const bool b_first = b.m > a.m;
    const float lx = b_first ? b.l : a.l, wx = b_first ? wb : wa;
    const float ly = b_first ? a.l : b.l, wy = b_first ? wa : wb;
    return {row_state{m, lx * wx + ly * wy}, wa, wb};
}

/// a ⊕= b for a row of n accumulator values (operands ordered as in merge_coefficients).
inline void merge_into(row_state& a, float* acc_a, row_state b, const float* acc_b, index_t n) noexcept {
    const merge_weights w = merge_coefficients(a, b);
    const bool b_first = b.m > a.m;
    const float* x = b_first ? acc_b : acc_a;
    const float* y = b_first ? acc_a : acc_b;
    const float wx = b_first ? w.wb : w.wa, wy = b_first ? w.wa : w.wb;
    for (index_t i = 0; i < n; ++i) acc_a[i] = x[i] * wx + y[i] * wy;
    a = w.state;
}

}  // namespace attune
