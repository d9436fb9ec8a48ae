#pragma once
// Normalised sigmoid family (Gu et al., "When Attention Sink Emerges in Language Models: An
// Empirical View", ICLR 2025, §7 / Table 6: sigmoid attention with normalisation): weights
// p_ij = σ(s_ij + b) over the visible keys, then o_i = Σ_j p_ij v_j / (Σ_j p_ij + ε), ε = 1e-8 as
// in the authors' eager_scaled_dot_product_attention (sim = "sigmoid", attention_normalize).
// The weights need no row max (each is independent, in (0, 1)), so no rescale: the engine keeps the
// row's weight sum l beside the accumulator (hook::row_sum), tiles and split-KV partials add both
// (acc and l), and the output divides once, at the end — exactly Σp·v / (Σp + ε) however the keys
// were split. Masked entries are −inf and σ(−inf) = 0: they add nothing to either sum; a row with
// nothing visible is 0. No LSE (options::lse throws), no sink policies.
// b = 0 is the paper's form; it is a parameter as in attune::sigmoid.
#include <cmath>

#include "attune/core/error.hpp"
#include "attune/core/policy.hpp"
#include "attune/core/types.hpp"
#include "attune/family/sigmoid.hpp"

namespace attune {

/// The normalised sigmoid attention family: weights σ(s + bias), each row divided by
/// (Σ weights + 1e-8); no LSE.
struct normalized_sigmoid {
    using policy_kind = family_kind;
    using hooks = provides<hook::weights_tile, hook::row_sum, hook::validate>;
    static constexpr bool has_lse = false;         ///< no LSE output (options::lse throws)
    static constexpr bool row_statistics = false;  ///< no online max: the engine adds weight sums instead
    static constexpr float row_sum_eps = 1e-8f;    ///< ε of o = Σp·v / (Σp + ε) (the authors' value)
    float bias = 0.0f;                             ///< b, added to every score before σ (paper: 0)

    /// Bias 0 (the attention-sink paper's form).
    normalized_sigmoid() = default;
    /// Bias `b`.
    explicit normalized_sigmoid(float b) : bias(b) {}

    /// Scores S[0..nk)[0..rows_padded) → weights σ(s + b), in place, as attune::sigmoid does (the
    /// engine then sums them per row).
    template <class Arch>
    void weights_tile(float* S, index_t nk, index_t rows_padded) const {
        sigmoid{bias}.template weights_tile<Arch>(S, nk, rows_padded);
    }

    /// Throws attune::error unless the bias is finite.
    template <class Shape>
    void validate(const Shape&) const {
        detail::require(std::isfinite(bias), "normalized_sigmoid: bias must be finite, got ", bias);
    }
};

}  // namespace attune
