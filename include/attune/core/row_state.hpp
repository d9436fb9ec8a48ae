#pragma once
// The online-softmax row state (m, l, a) and its merge ⊕ (SPEC.md §1):
//   (m_A, l_A, a_A) ⊕ (m_B, l_B, a_B) = (m, l_A e^{m_A−m} + l_B e^{m_B−m}, a_A e^{m_A−m} + a_B e^{m_B−m}),
//   m = max(m_A, m_B). Associative, commutative; the empty state (−inf, 0, 0) is its identity.
// The same operator serves split-KV decode, cascade (shared-prefix) attention and the Aaren scan.
// The −inf guard lives here, once: merging two empty states stays empty, never NaN.
#include <cmath>
#include <limits>

#include "attune/core/types.hpp"

namespace attune {

inline constexpr float neg_inf = -std::numeric_limits<float>::infinity();

struct row_state {
    float m = neg_inf;  // running max of the scores seen
    float l = 0.0f;     // Σ exp(s − m)
    bool empty() const noexcept { return l == 0.0f; }
    // Natural-log sum-exp of the scores seen; −inf for an empty row, NaN when a NaN was seen.
    float lse() const noexcept { return l == 0.0f ? neg_inf : m + std::log(l); }
};

// Weights to apply to each side's accumulator when merging; returns the merged state.
struct merge_weights {
    row_state state;
    float wa;
    float wb;
};

inline merge_weights merge_coefficients(row_state a, row_state b) noexcept {
    const float m = a.m > b.m ? a.m : b.m;
    if (m == neg_inf) return {row_state{}, 0.0f, 0.0f};
    const float wa = a.m == neg_inf ? 0.0f : std::exp(a.m - m);
    const float wb = b.m == neg_inf ? 0.0f : std::exp(b.m - m);
    return {row_state{m, a.l * wa + b.l * wb}, wa, wb};
}

// a ⊕= b for a row of n accumulator values.
inline void merge_into(row_state& a, float* acc_a, row_state b, const float* acc_b, index_t n) noexcept {
    const merge_weights w = merge_coefficients(a, b);
    for (index_t i = 0; i < n; ++i) acc_a[i] = acc_a[i] * w.wa + acc_b[i] * w.wb;
    a = w.state;
}

}  // namespace attune
