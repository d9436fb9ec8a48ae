#pragma once
// layer_norm_heads: LayerNorm of every (batch, head, token) row over head_dim, the pre-pass of
// QK-LayerNorm (Dehghani et al., "Scaling Vision Transformers to 22 Billion Parameters", 2023;
// OLMo-style query/key normalisation):
//   y = (x − μ) / √(σ² + ε) · γ + β,   μ, σ² the row's mean and population variance,
// γ and β optional [dim] vectors (1 and 0 when null), ε 1e-6 by default. Computed in float: the mean
// shifted by the row's first value, σ² from a centred second pass (no cancellation); storage float,
// bf16 or half in and out. `out` may be `in` itself (same data and strides: each row is read whole
// before it is written); any other overlap is rejected.
#include <cmath>
#include <type_traits>
#include <utility>

#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/executor.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/simd/vec.hpp"
#include "attune/exec/region.hpp"

namespace attune {

/// LayerNorm parameters over head_dim: y = (x − μ) / √(σ² + ε) · γ + β.
struct layer_norm {
    float eps = 1e-6f;              ///< ε, > 0
    const float* weight = nullptr;  ///< γ: [dim], or null for 1
    const float* bias = nullptr;    ///< β: [dim], or null for 0
};

namespace detail {

// One row: x (float, n) → dst (storage TO).
template <class Arch, class TO>
inline void layer_norm_row(const float* x, TO* dst, index_t n, const layer_norm& ln, float* tmp) {
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    // The mean as x₀ + mean(x − x₀): a row far from 0 (|μ| ≫ σ) would lose the sum's low digits.
    const float x0 = x[0];
    const simd::vec<Arch> shift = simd::broadcast<Arch>(x0);
    simd::vec<Arch> acc = simd::broadcast<Arch>(0.0f);
    index_t d = 0;
    for (; d + W <= n; d += W) acc += simd::load<Arch>(x + d) - shift;
    float sum = simd::reduce_add(acc);
    for (; d < n; ++d) sum += x[d] - x0;
    const float mean = x0 + sum / static_cast<float>(n);
    const simd::vec<Arch> mu = simd::broadcast<Arch>(mean);
    acc = simd::broadcast<Arch>(0.0f);
    for (d = 0; d + W <= n; d += W) {
        const simd::vec<Arch> c = simd::load<Arch>(x + d) - mu;
        acc = simd::fma(c, c, acc);
    }
    float sq = simd::reduce_add(acc);
    for (; d < n; ++d) sq += (x[d] - mean) * (x[d] - mean);
    const float rstd = 1.0f / std::sqrt(sq / static_cast<float>(n) + ln.eps);
    for (d = 0; d < n; ++d) {
        float y = (x[d] - mean) * rstd;
        if (ln.weight != nullptr) y *= ln.weight[d];
        if (ln.bias != nullptr) y += ln.bias[d];
        if constexpr (std::is_same_v<TO, float>) tmp[d] = y;
        else dst[d] = from_float<TO>(y);
    }
    if constexpr (std::is_same_v<TO, float>)
        for (d = 0; d < n; ++d) dst[d] = tmp[d];  // after the reads: in == out is safe
}

inline kernel::buffer& layer_norm_scratch() {
    thread_local kernel::buffer b;
    return b;
}

}  // namespace detail

/// LayerNorm of every (batch, head, token) row of `in` over head_dim into `out` (same shape; `out`
/// may be `in` itself, exactly), with the parameters `ln`.
template <class Arch = default_arch, class TI, class TO, class Exec = default_executor>
void layer_norm_heads(tensor_view<TI> in, tensor_view<TO> out, const layer_norm& ln = {}, const Exec& exec = {}) {
    static_assert(!std::is_const_v<TO>, "attune::layer_norm_heads: out must be a view of non-const elements");
    detail::require(in.data() != nullptr || in.size() == 0, "layer_norm_heads: in has null data");
    detail::require(out.data() != nullptr || out.size() == 0, "layer_norm_heads: out has null data");
    detail::require(in.shape() == out.shape(), "layer_norm_heads: out shape [", out.batch(), ", ", out.heads(), ", ", out.tokens(), ", ",
                    out.dim(), "] differs from in shape [", in.batch(), ", ", in.heads(), ", ", in.tokens(), ", ", in.dim(), "]");
    detail::require(in.dim() > 0, "layer_norm_heads: head dim is 0");
    detail::require(ln.eps > 0.0f && std::isfinite(ln.eps), "layer_norm_heads: eps must be finite and > 0, got ", ln.eps);
    // Exactly in place (same data, strides and type) is allowed; any other shared element is not
    // (core/overlap.hpp's definition). Rows of out may not share memory either way.
    const bool same = static_cast<const void*>(in.data()) == static_cast<const void*>(out.data()) && in.strides() == out.strides() &&
                      std::is_same_v<std::remove_const_t<TI>, TO>;
    detail::require(!detail::overlaps_itself(out),
                    "layer_norm_heads: out overlaps itself: two of its rows share memory (check its strides)");
    detail::require(same || !detail::shares_elements(out, in),
                    "layer_norm_heads: out overlaps in without being the same view (in place needs the same data and strides)");
    for (const auto& [vec, name] : {std::pair<const float*, const char*>{ln.weight, "layer_norm::weight"}, {ln.bias, "layer_norm::bias"}})
        detail::require(
            vec == nullptr || !detail::shares_elements(out, tensor_view<const float>(vec, {1, 1, 1, in.dim()}, {0, 0, in.dim()})),
            "layer_norm_heads: out overlaps ", name, ": it would change the parameters between rows");
    const index_t rows_per_head = in.tokens(), n = in.dim();
    ::attune::detail::parallel_for(exec, in.batch() * in.heads(), [&](index_t bh) {
        const index_t b = bh / in.heads(), h = bh % in.heads();
        float* x = detail::layer_norm_scratch().get(2 * n);
        for (index_t t = 0; t < rows_per_head; ++t) {
            simd::convert_row<Arch>(in.row(b, h, t), x, n);
            detail::layer_norm_row<Arch>(x, out.row(b, h, t), n, ln, x + n);
        }
    });
}

}  // namespace attune
