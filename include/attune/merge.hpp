#pragma once
// Cascade / shared-prefix attention: two attention results over disjoint key sets, each given as
// (output, LSE), merge into the result over the union with the online-softmax merge ⊕
// (core/row_state.hpp):
//   lse = log(e^{lse_a} + e^{lse_b}),  out = e^{lse_a − lse}·out_a + e^{lse_b − lse}·out_b.
// Rows empty on both sides stay zero with LSE −inf; a NaN LSE gives a NaN row (and LSE). `out` may
// be `out_a` or `out_b` exactly (same data and strides), `lse_out` likewise `lse_a` or `lse_b`; any
// other overlap between an output and an argument, or of an output with itself, is rejected.
#include <cmath>
#include <limits>
#include <type_traits>

#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/row_state.hpp"
#include "attune/core/view.hpp"

namespace attune {

namespace detail {
// out is exactly `in` (same data, strides and element type): each row is read before it is written.
template <class O, class I>
bool same_view(const tensor_view<O>& out, const tensor_view<I>& in) {
    return std::is_same_v<std::remove_const_t<O>, std::remove_const_t<I>> &&
           static_cast<const void*>(out.data()) == static_cast<const void*>(in.data()) && out.shape() == in.shape() &&
           out.strides() == in.strides();
}
// An output that may be exactly `in`, or else share none of its elements.
template <class O, class I>
void require_exact_or_disjoint(const tensor_view<O>& out, const char* out_name, const tensor_view<I>& in, const char* in_name) {
    require(same_view(out, in) || !shares_elements(out, in), "merge: ", out_name, " overlaps ", in_name,
            " without being the same view (in place needs the same data and strides)");
}
template <class A, class B, class O>
void merge_rows(const A& out_a, tensor_view<const float> lse_a, const B& out_b, tensor_view<const float> lse_b, const O& out,
                tensor_view<float> lse_out);
}  // namespace detail

/// Merges two attention results over disjoint key sets, (out_a, lse_a) and (out_b, lse_b), into
/// the result over their union: out, and its LSE into lse_out when given. Outputs are
/// [batch, heads, tokens, dv] views, LSEs [batch, heads, tokens, 1]; out may be out_a or out_b
/// exactly (in place).
template <class A, class B, class O>
void merge(const A& out_a, tensor_view<const float> lse_a, const B& out_b, tensor_view<const float> lse_b, const O& out,
           tensor_view<float> lse_out = {}) {
    using detail::named;
    using detail::require;
    require(out_a.data() != nullptr && out_b.data() != nullptr && out.data() != nullptr, "merge: an output view has null data");
    require(lse_a.data() != nullptr && lse_b.data() != nullptr, "merge: an LSE view has null data");
    require(out_a.shape() == out_b.shape() && out_a.shape() == out.shape(), "merge: out_a, out_b and out must have the same shape");
    const auto& s = out.shape();
    auto lse_ok = [&](const auto& l) { return l.batch() == s[0] && l.heads() == s[1] && l.tokens() == s[2] && l.dim() == 1; };
    require(lse_ok(lse_a) && lse_ok(lse_b), "merge: LSE views must be [batch, heads, tokens, 1] matching the outputs");
    require(lse_out.empty() || lse_ok(lse_out), "merge: lse_out must be [batch, heads, tokens, 1] matching the outputs");
    // Overlap (core/overlap.hpp: shared elements): out may be out_a or out_b exactly, lse_out may be
    // lse_a or lse_b exactly; nothing else may share memory with an output.
    detail::require_disjoint_output(out, "merge: out", named(lse_a, "lse_a"), named(lse_b, "lse_b"));
    detail::require_exact_or_disjoint(out, "out", out_a, "out_a");
    detail::require_exact_or_disjoint(out, "out", out_b, "out_b");
    if (!lse_out.empty()) {
        detail::require_disjoint_output(lse_out, "merge: lse_out", named(out_a, "out_a"), named(out_b, "out_b"), named(out, "out"));
        detail::require_exact_or_disjoint(lse_out, "lse_out", lse_a, "lse_a");
        detail::require_exact_or_disjoint(lse_out, "lse_out", lse_b, "lse_b");
    }
    detail::merge_rows(out_a, lse_a, out_b, lse_b, out, lse_out);
}

namespace detail {
// merge's loop, unchecked: for callers that validated once per call (sparse::gather_attention).
template <class A, class B, class O>
void merge_rows(const A& out_a, tensor_view<const float> lse_a, const B& out_b, tensor_view<const float> lse_b, const O& out,
                tensor_view<float> lse_out) {
    const auto& s = out.shape();
    using TO = typename O::value_type;
    for (index_t b = 0; b < s[0]; ++b)
        for (index_t h = 0; h < s[1]; ++h)
            for (index_t t = 0; t < s[2]; ++t) {
                const float la = *lse_a.row(b, h, t), lb = *lse_b.row(b, h, t);
                TO* po = out.row(b, h, t);
                if (std::isnan(la) || std::isnan(lb)) {  // NaN propagates: a NaN row, not a zero one
                    const float nan = std::numeric_limits<float>::quiet_NaN();
                    for (index_t d = 0; d < s[3]; ++d) po[d] = from_float<TO>(nan);
                    if (!lse_out.empty()) *lse_out.row(b, h, t) = nan;
                    continue;
                }
                const row_state sa{la, la == neg_inf ? 0.0f : 1.0f}, sb{lb, lb == neg_inf ? 0.0f : 1.0f};
                const merge_weights w = merge_coefficients(sa, sb);
                const float inv = w.state.l > 0.0f ? 1.0f / w.state.l : 0.0f;
                const auto* pa = out_a.row(b, h, t);
                const auto* pb = out_b.row(b, h, t);
                for (index_t d = 0; d < s[3]; ++d) {
                    const float x = (w.wa > 0.0f ? to_float(pa[d]) * w.wa : 0.0f) + (w.wb > 0.0f ? to_float(pb[d]) * w.wb : 0.0f);
                    po[d] = from_float<TO>(x * inv);
                }
                if (!lse_out.empty()) *lse_out.row(b, h, t) = w.state.lse();
            }
}
}  // namespace detail

}  // namespace attune
