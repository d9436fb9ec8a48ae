#pragma once
// QK-LayerNorm attention: LayerNorm of the queries and/or keys over head_dim (prepass/layer_norm.hpp),
// then attune::attention on the normalised copies, for any variant:
//   attune::qk_norm_attention(q, k, v, out, attune::qk_layernorm{}, attune::causal{});
// The normalised q and k are float copies in a per-thread workspace that grows once and is reused,
// so repeated calls of one size allocate nothing. With a KV cache, normalise each key once when it
// is appended (layer_norm_heads on the new rows) and pass normalise_k = false: renormalising the
// whole cache every decode step would read it twice.
#include "attune/attention.hpp"
#include "attune/core/overlap.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/prepass/layer_norm.hpp"

namespace attune {

/// Which of q and k qk_norm_attention normalises, and with which LayerNorm parameters.
struct qk_layernorm {
    layer_norm q{};           ///< the queries' LayerNorm (ε 1e-6, γ/β optional)
    layer_norm k{};           ///< the keys' LayerNorm
    bool normalise_q = true;  ///< normalise the queries
    bool normalise_k = true;  ///< normalise the keys (false when the cache holds normalised keys)
};

namespace detail {

struct qk_norm_workspace {
    kernel::buffer q, k;
    static qk_norm_workspace& local() {
        thread_local qk_norm_workspace w;
        return w;
    }
};

// A contiguous float [B, H, L, D] copy of x's shape in `buf`, normalised by `ln`.
template <class Arch, class T, class Exec>
tensor_view<const float> normalised_copy(const tensor_view<T>& x, kernel::buffer& buf, const layer_norm& ln, const Exec& exec) {
    float* data = buf.get(x.size());
    const auto dst = view_bhld(data, x.batch(), x.heads(), x.tokens(), x.dim());
    layer_norm_heads<Arch>(x, dst, ln, exec);
    return dst;
}

}  // namespace detail

/// attune::attention(q, k, v, out, var, opt, exec) on LayerNorm-normalised copies of q and/or k
/// (as `norm` says).
template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor>
void qk_norm_attention(const Q& q, const K& k, const V& v, const O& out, const qk_layernorm& norm, const Var& var = {},
                       const options& opt = {}, const Exec& exec = {}) {
    // Shapes are checked by attention(); the pre-pass needs only non-null data and a head dim.
    detail::require_data(q, "q");
    detail::require_data(k, "k");
    // attention() sees the normalised copies, so the overlap with the caller's q and k is checked here.
    detail::require_data(out, "out");
    detail::require_disjoint_output(out, "out", detail::named(q, "q"), detail::named(k, "k"), detail::named(v, "v"));
    if (!opt.lse.empty())
        detail::require_disjoint_output(opt.lse, "options::lse", detail::named(q, "q"), detail::named(k, "k"), detail::named(v, "v"),
                                        detail::named(out, "out"));
    auto& ws = detail::qk_norm_workspace::local();
    const auto run = [&](const auto& qn, const auto& kn) { attention<Arch>(qn, kn, v, out, var, opt, exec); };
    if (norm.normalise_q && norm.normalise_k)
        run(detail::normalised_copy<Arch>(q, ws.q, norm.q, exec), detail::normalised_copy<Arch>(k, ws.k, norm.k, exec));
    else if (norm.normalise_q) run(detail::normalised_copy<Arch>(q, ws.q, norm.q, exec), k);
    else if (norm.normalise_k) run(q, detail::normalised_copy<Arch>(k, ws.k, norm.k, exec));
    else run(q, k);
}

}  // namespace attune
