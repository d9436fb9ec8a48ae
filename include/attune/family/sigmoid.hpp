#pragma once
// Sigmoid family (FlashSigmoid: Ramapuram et al., "Theory, Analysis, and Best Practices for Sigmoid
// Self-Attention", 2024): o_i = Σ_j σ(s_ij + b)·v_j over the visible keys j.
// No row max, no row sum, no rescale: every weight is independent, so tiles and split-KV partials
// combine by plain addition and a row with nothing visible is 0. Masked entries are −inf before
// the family sees them and σ(−inf) = 0 exactly, so they contribute exactly 0. There is no LSE:
// passing options::lse with this family throws attune::error.
// b is a parameter: FlashSigmoid trains with b = −ln n, n the *training* sequence length, and keeps
// it at other lengths; sigmoid_bias_for_length(n) computes −ln n. Sink policies do not apply.
// ALiBi under sigmoid should use alibi_form::symmetric (sigmoid is not shift-invariant).
// Numerics: σ(x) = 1/(1 + e^{−x}) (simd::sigmoid, ≤ 4 ULP, activations.hpp).
#include <cmath>

#include "attune/core/error.hpp"
#include "attune/core/policy.hpp"
#include "attune/core/types.hpp"
#include "attune/simd/activations.hpp"

namespace attune {

/// −ln n: FlashSigmoid's bias b for training sequence length n (n > 0).
inline float sigmoid_bias_for_length(index_t n) {
    detail::require(n > 0, "sigmoid_bias_for_length: n must be > 0, got ", n);
    return static_cast<float>(-std::log(static_cast<double>(n)));
}

/// The sigmoid attention family: weights σ(s + bias), no normalisation, no LSE.
struct sigmoid {
    using policy_kind = family_kind;
    using hooks = provides<hook::weights_tile, hook::validate>;
    static constexpr bool has_lse = false;         ///< no LSE output (options::lse throws)
    static constexpr bool row_statistics = false;  ///< weights need no row state; partials add
    float bias = 0.0f;                             ///< b, added to every score before σ

    /// Bias 0 (the attention-sink paper's variant).
    sigmoid() = default;
    /// Bias `b` (sigmoid_bias_for_length(n) gives FlashSigmoid's).
    explicit sigmoid(float b) : bias(b) {}

    /// Scores S[0..nk)[0..rows_padded) → weights σ(s + b), in place.
    template <class Arch>
    void weights_tile(float* S, index_t nk, index_t rows_padded) const {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const simd::vec<Arch> b = simd::broadcast<Arch>(bias);
        const index_t total = nk * rows_padded;
        for (index_t i = 0; i < total; i += W) simd::store_aligned<Arch>(S + i, simd::sigmoid(simd::load_aligned<Arch>(S + i) + b));
    }

    /// Throws attune::error unless the bias is finite.
    template <class Shape>
    void validate(const Shape&) const {
        detail::require(std::isfinite(bias), "sigmoid: bias must be finite, got ", bias);
    }
};

}  // namespace attune
