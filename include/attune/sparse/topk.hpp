#pragma once
// Top-k decode and recycled attention (Xu et al., "Recycled Attention: Efficient Inference for
// Long-Context Language Models", 2024).
//
//   attune::key_selection sel;
//   attune::sparse::topk_decode(q, k, v, out, /*top_k*/ 256, sel);   // full step + the 256 most attended keys
//   attune::sparse::gather_attention(q2, k2, v2, sel.view(), out2);  // later: only those keys
//
//   attune::sparse::topk_decode(q, k, v, out, 256, sel, attune::variant(attune::softcap{30}, attune::sink_logit{z}));
//
//   attune::sparse::recycled_attention rec(/*top_k*/ 256);
//   for (step = 0; …; ++step) rec.step(q, cache.keys(), cache.values(), out, /*full*/ step % S == 0);
//
// topk_decode is one decode step (Lq = 1) of full attention (attune::attention, no mask, LSE kept)
// plus a pass over the keys computing p_j = exp(τ·q·k_j − LSE) (sparse/probabilities.hpp); a key's
// weight is Σ p_j over the query heads of its kv group. The selection per (batch, kv head) is the
// top_k keys by weight (ties: the smaller position first), stored in ascending position order;
// with fewer than top_k keys every key is selected and the rest is padding (−1).
// recycled_attention: a full step (the caller decides when) runs topk_decode and remembers the
// selection and the cache length L_full; every other step attends (gather_attention) to the
// selection plus every key at a position ≥ L_full — the tokens appended since the full step.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/sparse/gather.hpp"
#include "attune/sparse/probabilities.hpp"
#include "attune/exec/region.hpp"

namespace attune {

/// Selected key positions per (batch, kv head): [batch][heads][count], ascending, −1 = padding.
struct key_selection {
    index_t batch = 0;               ///< B
    index_t heads = 0;               ///< kv heads
    index_t count = 0;               ///< positions per (batch, kv head): top_k
    std::vector<index_t> positions;  ///< [batch][heads][count]
    /// The selection of (batch b, kv head h), `count` positions.
    const index_t* row(index_t b, index_t h) const noexcept { return positions.data() + (b * heads + h) * count; }
    /// The selection as gather_attention's index list (one list per kv head, shared by its query rows).
    index_view view() const noexcept { return {positions.data(), batch, heads, 1, count}; }
};

namespace sparse {
namespace detail {
template <class TQ>
struct topk_scratch {
    std::vector<index_t> order, visible, heads, q_pos, k_pos;
    std::vector<const TQ*> rows;
    std::vector<float> lse;
    static topk_scratch& local() {
        thread_local topk_scratch s;
        return s;
    }
};
}  // namespace detail

/// One decode step (Lq = 1) of attention for the variant `var` into out, then the `top_k` most
/// attended keys per (batch, kv head) into `sel`: a key's weight is the sum over the kv group's query
/// heads of the weight the variant gives it, exp(s' − LSE) (the score modifier applied, the sink in
/// the LSE) or σ(s' + b) for the sigmoid family; ties: the smaller position. The variant has no
/// mask (the selection ranks every key); its modifier sees the keys' positions in k.
template <class Arch = default_arch, class Q, class K, class V, class O, class Var, class Exec = default_executor,
          std::enable_if_t<!std::is_same_v<std::decay_t<Var>, options>, int> = 0>
void topk_decode(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, index_t top_k,
                 key_selection& sel, const Var& var_in, const options& opt_in = {}, const Exec& exec = {}) {
    using attune::detail::require;
    const auto& var = to_variant(var_in);
    using Vt = std::decay_t<decltype(var)>;
    using family = typename Vt::family_type;
    require(top_k >= 1, "topk_decode: top_k (", top_k, ") must be ≥ 1");
    require(q.tokens() == 1, "topk_decode: a decode step takes one query token, got ", q.tokens());
    require(attune::detail::is_none_v<typename Vt::mask_type>,
            "topk_decode: variant: a mask other than none is not accepted (the selection ranks every key)");
    if constexpr (!family::has_lse)
        require(opt_in.lse.empty(), "topk_decode: options::lse was given, but the variant's family (e.g. sigmoid) has no log-sum-exp");
    // The selection's and the weights' sizes are checked and allocated before the attention pass
    // writes out; sel changes only at the end, so a throwing call leaves it as it was.
    require(k.heads() > 0, "topk_decode: k has 0 heads");
    const index_t B = q.batch(), Hkv = k.heads(), Lk = k.tokens();
    std::vector<index_t> positions;
    attune::detail::checked_assign(positions, attune::detail::checked_product("topk_decode: top_k", B, Hkv, top_k), index_t(-1),
                                   "topk_decode: top_k");
    thread_local std::vector<double> weights;
    attune::detail::checked_assign(weights, attune::detail::checked_product("topk_decode: key weights", B, Hkv, Lk), 0.0,
                                   "topk_decode: key weights");
    options opt = opt_in;
    thread_local std::vector<float> lse_buf;
    attune::detail::checked_assign(lse_buf, attune::detail::checked_product("topk_decode: lse", B, q.heads()), 0.0f, "topk_decode: lse");
    if (family::has_lse && opt.lse.empty()) opt.lse = lse_view(lse_buf.data(), q.batch(), q.heads(), 1);
    attention<Arch>(tensor_view<const std::remove_const_t<Q>>(q), tensor_view<const std::remove_const_t<K>>(k),
                    tensor_view<const std::remove_const_t<V>>(v), out, var, opt, exec);

    const index_t group = q.heads() / Hkv;
    const float scale = opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(static_cast<float>(q.dim()));
    // The probability pass runs over (kv head, key range) items — every worker busy even with 8 kv
    // heads — into one weight row per kv head; then the selection runs per kv head.
    const tensor_view<const std::remove_const_t<K>> kc(k);
    double* const wts = weights.data();  // a thread_local named inside the lambdas would be each worker's own
    const float* const lse_rows = lse_buf.data();
    constexpr index_t range = 4096;
    const index_t ranges = Lk > 0 ? (Lk + range - 1) / range : 0;
    ::attune::detail::parallel_for(exec, B * Hkv * ranges, [&](index_t it) {
        const index_t item = it / ranges, j0 = (it % ranges) * range, n = Lk - j0 < range ? Lk - j0 : range;
        const index_t b = item / Hkv, h = item % Hkv;
        auto& s = detail::topk_scratch<std::remove_const_t<Q>>::local();
        s.rows.resize(static_cast<std::size_t>(group));
        s.lse.resize(static_cast<std::size_t>(group));
        s.visible.assign(static_cast<std::size_t>(group), n);
        for (index_t g = 0; g < group; ++g) {
            s.rows[static_cast<std::size_t>(g)] = q.row(b, h * group + g, 0);
            s.lse[static_cast<std::size_t>(g)] = family::has_lse ? *opt.lse.row(b, h * group + g, 0) : lse_rows[0];
        }
        const tensor_view<const std::remove_const_t<K>> part(kc.row(b, 0, j0), {1, Hkv, n, kc.dim()},
                                                             {0, kc.strides()[1], kc.strides()[2]});
        if constexpr (attune::detail::is_none_v<typename Vt::score_type> && family::row_statistics) {
            // Plain scores: the vectorised pass (a sink is in the LSE already).
            detail::accumulate_probabilities<Arch>(s.rows.data(), s.lse.data(), s.visible.data(), group, scale, part, 0, h,
                                                   wts + item * Lk + j0);
        } else {
            s.heads.resize(static_cast<std::size_t>(group));
            s.q_pos.assign(static_cast<std::size_t>(group), Lk - 1);  // the query is the last key (bottom-right)
            s.k_pos.resize(static_cast<std::size_t>(n));
            for (index_t g = 0; g < group; ++g) s.heads[static_cast<std::size_t>(g)] = h * group + g;
            for (index_t j = 0; j < n; ++j) s.k_pos[static_cast<std::size_t>(j)] = j0 + j;
            detail::accumulate_weights<Arch>(var, s.rows.data(), s.lse.data(), s.visible.data(), s.heads.data(), s.q_pos.data(),
                                             s.k_pos.data(), group, scale, part, b, h, wts + item * Lk + j0);
        }
    });
    ::attune::detail::parallel_for(exec, B * Hkv, [&](index_t item) {
        auto& s = detail::topk_scratch<std::remove_const_t<Q>>::local();
        s.order.resize(static_cast<std::size_t>(Lk));
        for (index_t j = 0; j < Lk; ++j) s.order[static_cast<std::size_t>(j)] = j;
        const index_t n = top_k < Lk ? top_k : Lk;
        const double* w = wts + item * Lk;
        if (n < Lk)
            std::nth_element(s.order.begin(), s.order.begin() + n, s.order.end(),
                             [w](index_t a, index_t c) { return w[a] > w[c] || (w[a] == w[c] && a < c); });
        std::sort(s.order.begin(), s.order.begin() + n);
        index_t* dst = positions.data() + item * top_k;
        for (index_t i = 0; i < n; ++i) dst[i] = s.order[static_cast<std::size_t>(i)];  // the rest stays −1 (padding)
    });
    sel.batch = B, sel.heads = Hkv, sel.count = top_k;
    sel.positions.swap(positions);
}

/// One decode step (Lq = 1) of full softmax attention into out, then the `top_k` most attended keys
/// per (batch, kv head) into `sel` (weights summed over the kv group's query heads; ties: the
/// smaller position).
template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
void topk_decode(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, index_t top_k,
                 key_selection& sel, const options& opt = {}, const Exec& exec = {}) {
    topk_decode<Arch>(q, k, v, out, top_k, sel, variant<>{}, opt, exec);
}

/// Recycled attention: full steps chosen by the caller, top-k + new tokens in between.
class recycled_attention {
public:
    /// Keeps the `top_k` most attended keys of each full step (≥ 1).
    explicit recycled_attention(index_t top_k) : top_k_(top_k) {
        attune::detail::require(top_k >= 1, "recycled_attention: top_k (", top_k, ") must be ≥ 1");
    }

    index_t top_k() const noexcept { return top_k_; }                  ///< keys kept per full step
    bool has_selection() const noexcept { return full_length_ >= 0; }  ///< whether a full step has run
    index_t full_length() const noexcept { return full_length_; }      ///< Lk at the last full step
    const key_selection& selection() const noexcept { return sel_; }   ///< the last full step's keys

    /// One decode step over the cache's k, v (all tokens so far, the new one included): full
    /// attention and a new selection when `full`, otherwise attention over the selection plus the
    /// tokens appended since the last full step.
    template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, bool full,
              const options& opt = {}, const Exec& exec = {}) {
        step<Arch>(q, k, v, out, full, variant<>{}, opt, exec);
    }
    /// The same step for the variant `var` (no mask; a score modifier that reads no positions, since
    /// the steps between full ones attend to gathered keys: gather_attention's rule).
    template <class Arch = default_arch, class Q, class K, class V, class O, class Var, class Exec = default_executor,
              std::enable_if_t<!std::is_same_v<std::decay_t<Var>, options>, int> = 0>
    void step(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const tensor_view<O>& out, bool full,
              const Var& var, const options& opt = {}, const Exec& exec = {}) {
        using attune::detail::require;
        require(detail::position_free_v<typename std::decay_t<decltype(to_variant(var))>::score_type>,
                "recycled_attention::step: variant: only score modifiers that read no positions (none, softcap) are accepted");
        if (full) {
            topk_decode<Arch>(q, k, v, out, top_k_, sel_, var, opt, exec);
            full_length_ = k.tokens();
            return;
        }
        require(has_selection(), "recycled_attention::step: the first step must be a full one (no selection yet)");
        require(k.batch() == sel_.batch && k.heads() == sel_.heads, "recycled_attention::step: k's batch and heads (", k.batch(), ", ",
                k.heads(), ") differ from the full step's (", sel_.batch, ", ", sel_.heads, ")");
        require(k.tokens() >= full_length_, "recycled_attention::step: the cache has ", k.tokens(),
                " tokens, fewer than at the last full step (", full_length_, ")");
        const index_t fresh = k.tokens() - full_length_;
        const index_t count = attune::detail::checked_add(sel_.count, fresh, "recycled_attention::step: selection + new tokens");
        const index_t n =
            attune::detail::checked_product("recycled_attention::step: selection + new tokens", sel_.batch, sel_.heads, count);
        if (static_cast<std::size_t>(n) > list_.size())
            attune::detail::checked_assign(list_, n, index_t(-1), "recycled_attention::step: selection + new tokens");
        for (index_t r = 0; r < sel_.batch * sel_.heads; ++r) {
            index_t* dst = list_.data() + r * count;
            std::copy_n(sel_.positions.data() + r * sel_.count, sel_.count, dst);
            for (index_t i = 0; i < fresh; ++i) dst[sel_.count + i] = full_length_ + i;
        }
        gather_attention<Arch>(q, k, v, index_view{list_.data(), sel_.batch, sel_.heads, 1, count}, out, var, opt, exec);
    }

private:
    index_t top_k_;
    index_t full_length_ = -1;
    key_selection sel_;
    std::vector<index_t> list_;
};

}  // namespace sparse
}  // namespace attune
