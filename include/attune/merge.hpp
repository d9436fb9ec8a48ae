#pragma once
// Cascade / shared-prefix attention: two attention results over disjoint key sets, each given as
// (output, LSE), merge into the result over the union with ⊕ (SPEC.md §1):
//   lse = log(e^{lse_a} + e^{lse_b}),  out = e^{lse_a − lse}·out_a + e^{lse_b − lse}·out_b.
// Rows empty on both sides stay zero with LSE −inf. `out` may alias `out_a` or `out_b` exactly.
#include "attune/core/error.hpp"
#include "attune/core/row_state.hpp"
#include "attune/core/view.hpp"

namespace attune {

template <class A, class B, class O>
void merge(const A& out_a, tensor_view<const float> lse_a, const B& out_b, tensor_view<const float> lse_b, const O& out,
           tensor_view<float> lse_out = {}) {
    using detail::require;
    require(out_a.data() != nullptr && out_b.data() != nullptr && out.data() != nullptr, "merge: an output view has null data");
    require(lse_a.data() != nullptr && lse_b.data() != nullptr, "merge: an LSE view has null data");
    require(out_a.shape() == out_b.shape() && out_a.shape() == out.shape(), "merge: out_a, out_b and out must have the same shape");
    const auto& s = out.shape();
    auto lse_ok = [&](const auto& l) { return l.batch() == s[0] && l.heads() == s[1] && l.tokens() == s[2] && l.dim() == 1; };
    require(lse_ok(lse_a) && lse_ok(lse_b), "merge: LSE views must be [batch, heads, tokens, 1] matching the outputs");
    require(lse_out.empty() || lse_ok(lse_out), "merge: lse_out must be [batch, heads, tokens, 1] matching the outputs");
    using TO = typename O::value_type;
    for (index_t b = 0; b < s[0]; ++b)
        for (index_t h = 0; h < s[1]; ++h)
            for (index_t t = 0; t < s[2]; ++t) {
                const float la = *lse_a.row(b, h, t), lb = *lse_b.row(b, h, t);
                const row_state sa{la, la == neg_inf ? 0.0f : 1.0f}, sb{lb, lb == neg_inf ? 0.0f : 1.0f};
                const merge_weights w = merge_coefficients(sa, sb);
                const float inv = w.state.l > 0.0f ? 1.0f / w.state.l : 0.0f;
                const auto* pa = out_a.row(b, h, t);
                const auto* pb = out_b.row(b, h, t);
                TO* po = out.row(b, h, t);
                for (index_t d = 0; d < s[3]; ++d) {
                    const float x = (w.wa > 0.0f ? to_float(pa[d]) * w.wa : 0.0f) + (w.wb > 0.0f ? to_float(pb[d]) * w.wb : 0.0f);
                    po[d] = from_float<TO>(x * inv);
                }
                if (!lse_out.empty()) *lse_out.row(b, h, t) = w.state.lse();
            }
}

}  // namespace attune
