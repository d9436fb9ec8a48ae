#pragma once
// Soft-capping (Gemma 2, SPEC.md §4): s ← c·tanh(s / c), c > 0 (Gemma 2 uses c = 50 for attention).
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

struct softcap {
    using policy_kind = score_kind;
    static constexpr bool is_none = false;
    float cap = 50.0f;

    softcap() = default;
    explicit softcap(float c) : cap(c) { check_cap(); }

    template <class T>
    T operator()(T s, const index_context&) const {
        return static_cast<T>(cap) * std::tanh(s / static_cast<T>(cap));
    }

    template <class Arch>
    void apply_tile(float* S, index_t, index_t nk, const score_rows& rows, const float*) const {
        constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
        const simd::vec<Arch> c = simd::broadcast<Arch>(cap), inv = simd::broadcast<Arch>(1.0f / cap);
        const index_t total = nk * rows.rows_padded;  // the tile is contiguous: one flat lane-wise pass
        for (index_t i = 0; i < total; i += W)
            simd::store_aligned<Arch>(S + i, c * simd::tanh(simd::load_aligned<Arch>(S + i) * inv));
    }

    template <class Shape>
    void validate(const Shape&) const {  // the cap alone: any shape
        check_cap();
    }

private:
    void check_cap() const { detail::require(cap > 0.0f && std::isfinite(cap), "softcap: cap must be finite and > 0, got ", cap); }
};

}  // namespace attune
