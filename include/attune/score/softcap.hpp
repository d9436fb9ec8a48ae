#pragma once
// Soft-capping (Gemma Team, "Gemma 2", 2024): s ← c·tanh(s / c), c > 0 (Gemma 2 uses c = 50 for
// attention).
// Scores stay in (−c, c). c must be finite and > 0 (attune::error at construction and when
// attention() validates the call). The engine applies it before the online max is taken, so the running max is
// the max of the capped scores: the online softmax stays exact.
// Vector path: simd::tanh (≤ 3 ULP, activations.hpp), one tile column of lanes at a time.
#include <cmath>

#include "attune/core/error.hpp"
#include "attune/core/index_context.hpp"
#include "attune/core/policy.hpp"
#include "attune/score/modifier.hpp"
#include "attune/simd/activations.hpp"

namespace attune {

/// Soft-capping score modifier: s ← c·tanh(s / c).
struct softcap {
    using policy_kind = score_kind;
    using hooks = provides<hook::apply_tile, hook::validate>;
    static constexpr bool is_none = false;
    float cap = 50.0f;  ///< c, finite and > 0

    softcap() = default;  ///< c = 50, Gemma 2's attention cap
    /// Cap `c` (finite, > 0).
    explicit softcap(float c) : cap(c) { check_cap(); }

    /// The capped score of one element.
    template <class T>
    T operator()(T s, const index_context&) const {
        return static_cast<T>(cap) * std::tanh(s / static_cast<T>(cap));
    }

    /// The cap of a whole score tile, lane-wise.
    template <class Arch>
    void apply_tile(float* S, index_t, index_t nk, const score_rows& rows, const float*) const {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const simd::vec<Arch> c = simd::broadcast<Arch>(cap), inv = simd::broadcast<Arch>(1.0f / cap);
        const index_t total = nk * rows.rows_padded;  // the tile is contiguous: one flat lane-wise pass
        for (index_t i = 0; i < total; i += W) simd::store_aligned<Arch>(S + i, c * simd::tanh(simd::load_aligned<Arch>(S + i) * inv));
    }

    /// Throws attune::error unless the cap is finite and > 0 (any shape is valid).
    template <class Shape>
    void validate(const Shape&) const {
        check_cap();
    }

private:
    void check_cap() const { detail::require(cap > 0.0f && std::isfinite(cap), "softcap: cap must be finite and > 0, got ", cap); }
};

}  // namespace attune
