#pragma once
// Per-(token, head) gates: MoH's mixture of heads (Jin et al., "MoH: Multi-Head Attention as
// Mixture-of-Head Attention", 2024) and BAM-style soft mixtures of attention experts (Zhang et al.,
// "BAM! Just Like That: Simple and Efficient Parameter Upcycling for Mixture of Experts", 2024).
// token_gates holds one gate per (batch, query index, query head), [B][Lq][Hq]; a zero gate skips
// the row. The builders compute it from router logits the caller's model produced:
//   moh_gates(...)          learned router: shared heads h_s·softmax(W_s x), the top-k of the routed
//                           heads' softmax(W_r x) renormalised as k·r_h / Σ_topk r, and the split
//                           [α₁, α₂] = 2·softmax(W_h x) weighting the two groups;
//   moh_query_norm_gates()  LLaMA3-MoH's parameter-free router: logit ‖q_h‖₂ / std over the routed
//                           heads, top-k, binary gates, shared heads always on;
//   soft_mixture_gates()    BAM: softmax over the experts (query heads sharing K/V), all on.
// Top-k ties go to the lower head index. Gates must be finite (any sign), like head_gates', and the
// builders' logits finite (a NaN has no rank and no softmax); moh_query_norm_gates refuses a q whose
// norm is NaN. Every violation is an attune::error naming the argument.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/policy.hpp"
#include "attune/core/view.hpp"
#include "attune/router/router.hpp"

namespace attune {

/// One gate per (batch, query index, query head); a zero gate skips the row. Built by moh_gates,
/// moh_query_norm_gates or soft_mixture_gates, or from the caller's own table.
struct token_gates {
    using policy_kind = router_kind;
    using hooks = provides<hook::active_fraction, hook::validate>;
    static constexpr bool is_none = false;
    std::vector<float> gates;  ///< [batch][tokens][heads]
    index_t batch = 0;         ///< B of the call
    index_t tokens = 0;        ///< Lq of the call
    index_t heads = 0;         ///< Hq of the call

    token_gates() = default;  ///< an empty table
    /// The table `g`, [b][t][h] row-major, of finite gates.
    token_gates(std::vector<float> g, index_t b, index_t t, index_t h) : gates(std::move(g)), batch(b), tokens(t), heads(h) {
        check_table();
    }

    /// The gate of (batch b, token t, head h).
    float& at(index_t b, index_t t, index_t h) { return gates[static_cast<std::size_t>((b * tokens + t) * heads + h)]; }
    /// The gate of (batch b, token t, head h), by value.
    float at(index_t b, index_t t, index_t h) const { return gates[static_cast<std::size_t>((b * tokens + t) * heads + h)]; }
    /// The row's gate.
    float gate(const row_context& row) const noexcept { return at(row.batch, row.q_index, row.q_head); }
    /// Fraction of (token, head) rows with a nonzero gate.
    double active_fraction() const {
        if (gates.empty()) return 0.0;
        return static_cast<double>(std::count_if(gates.begin(), gates.end(), [](float g) { return g != 0.0f; })) /
               static_cast<double>(gates.size());
    }

    /// Throws attune::error unless the table is [B, Lq, Hq] of the call, all finite.
    template <class Shape>
    void validate(const Shape& p) const {
        check_table();
        detail::require(batch == p.batch && tokens == p.lq && heads == p.q_heads, "token_gates: gates for [", batch, ", ", tokens, ", ",
                        heads, "] (batch, tokens, heads), the call has [", p.batch, ", ", p.lq, ", ", p.q_heads, "]");
    }

private:
    void check_table() const {
        detail::require(batch >= 0 && tokens >= 0 && heads >= 0, "token_gates: batch, tokens, heads (", batch, ", ", tokens, ", ", heads,
                        ") must be ≥ 0");
        const index_t n = detail::checked_product("token_gates: batch × tokens × heads", batch, tokens, heads);
        detail::require(static_cast<index_t>(gates.size()) == n, "token_gates: ", gates.size(),
                        " gates, expected batch × tokens × heads = ", n);
        for (std::size_t i = 0; i < gates.size(); ++i)
            detail::require(std::isfinite(gates[i]), "token_gates: gates[", i, "] must be finite, got ", gates[i]);
    }
};

namespace detail {
inline void require_finite_logits(const std::vector<float>& v, const char* what) {
    for (std::size_t i = 0; i < v.size(); ++i) require(std::isfinite(v[i]), what, "[", i, "] must be finite, got ", v[i]);
}
// Indices of the k largest values (ties: lower index first; the values are never NaN).
inline std::vector<index_t> top_k_indices(const float* v, index_t n, index_t k) {
    std::vector<index_t> idx(static_cast<std::size_t>(n));
    std::iota(idx.begin(), idx.end(), index_t(0));
    std::stable_sort(idx.begin(), idx.end(), [&](index_t a, index_t b) { return v[a] > v[b]; });
    idx.resize(static_cast<std::size_t>(k));
    return idx;
}
inline void softmax_in_place(float* v, index_t n) {
    float mx = v[0];
    for (index_t i = 1; i < n; ++i) mx = std::max(mx, v[i]);
    double sum = 0;
    for (index_t i = 0; i < n; ++i) sum += (v[i] = std::exp(v[i] - mx));
    for (index_t i = 0; i < n; ++i) v[i] = static_cast<float>(v[i] / sum);
}
}  // namespace detail

/// MoH with a learned router. Logits are row-major per (batch, token): routed [B][L][Hr],
/// shared [B][L][Hs] (empty when Hs = 0) and split [B][L][2] (empty: α₁ = α₂ = 1).
/// Heads [0, Hs) are the shared ones, [Hs, Hs + Hr) the routed ones.
inline token_gates moh_gates(index_t batch, index_t tokens, index_t shared_heads, index_t routed_heads, index_t top_k,
                             const std::vector<float>& routed_logits, const std::vector<float>& shared_logits = {},
                             const std::vector<float>& split_logits = {}) {
    detail::require(batch > 0, "moh_gates: batch must be > 0, got ", batch);
    detail::require(tokens >= 0, "moh_gates: tokens must be ≥ 0, got ", tokens);
    detail::require(shared_heads >= 0, "moh_gates: shared_heads must be ≥ 0, got ", shared_heads);
    detail::require(routed_heads >= 0, "moh_gates: routed_heads must be ≥ 0, got ", routed_heads);
    detail::require(top_k >= 0 && top_k <= routed_heads, "moh_gates: top_k (", top_k, ") must be in [0, routed heads = ", routed_heads,
                    "]");
    const index_t rows = detail::checked_mul(batch, tokens, "moh_gates: batch × tokens");
    const index_t H = detail::checked_add(shared_heads, routed_heads, "moh_gates: shared_heads + routed_heads");
    const index_t n_routed = detail::checked_mul(rows, routed_heads, "moh_gates: batch × tokens × routed_heads");
    const index_t n_shared = detail::checked_mul(rows, shared_heads, "moh_gates: batch × tokens × shared_heads");
    const index_t n_split = detail::checked_mul(rows, 2, "moh_gates: batch × tokens");
    detail::require(static_cast<index_t>(routed_logits.size()) == n_routed, "moh_gates: routed logits have ", routed_logits.size(),
                    " values, expected batch × tokens × routed heads = ", n_routed);
    detail::require(shared_logits.empty() || static_cast<index_t>(shared_logits.size()) == n_shared, "moh_gates: shared logits have ",
                    shared_logits.size(), " values, expected ", n_shared);
    detail::require(split_logits.empty() || static_cast<index_t>(split_logits.size()) == n_split, "moh_gates: split logits have ",
                    split_logits.size(), " values, expected batch × tokens × 2 = ", n_split);
    detail::require_finite_logits(routed_logits, "moh_gates: routed_logits");
    detail::require_finite_logits(shared_logits, "moh_gates: shared_logits");
    detail::require_finite_logits(split_logits, "moh_gates: split_logits");
    std::vector<float> zeros;
    detail::checked_assign(zeros, detail::checked_mul(rows, H, "moh_gates: batch × tokens × heads"), 0.0f,
                           "moh_gates: batch × tokens × heads");
    token_gates g(std::move(zeros), batch, tokens, H);
    std::vector<float> r(static_cast<std::size_t>(routed_heads)), sh(static_cast<std::size_t>(shared_heads));
    for (index_t row = 0; row < rows; ++row) {
        float a1 = 1.0f, a2 = 1.0f;
        if (!split_logits.empty()) {
            float sp[2] = {split_logits[static_cast<std::size_t>(2 * row)], split_logits[static_cast<std::size_t>(2 * row + 1)]};
            detail::softmax_in_place(sp, 2);
            a1 = 2.0f * sp[0];
            a2 = 2.0f * sp[1];
        }
        float* out = g.gates.data() + row * H;
        if (shared_heads > 0) {
            if (shared_logits.empty()) {
                for (index_t h = 0; h < shared_heads; ++h) out[h] = a1;
            } else {
                std::copy_n(shared_logits.begin() + row * shared_heads, shared_heads, sh.begin());
                detail::softmax_in_place(sh.data(), shared_heads);
                for (index_t h = 0; h < shared_heads; ++h) out[h] = a1 * static_cast<float>(shared_heads) * sh[static_cast<std::size_t>(h)];
            }
        }
        if (routed_heads > 0 && top_k > 0) {
            std::copy_n(routed_logits.begin() + row * routed_heads, routed_heads, r.begin());
            detail::softmax_in_place(r.data(), routed_heads);
            const auto top = detail::top_k_indices(r.data(), routed_heads, top_k);
            float sum = 0.0f;
            for (index_t h : top) sum += r[static_cast<std::size_t>(h)];
            for (index_t h : top) out[shared_heads + h] = a2 * static_cast<float>(top_k) * r[static_cast<std::size_t>(h)] / sum;
        }
    }
    return g;
}

/// LLaMA3-MoH's parameter-free router from the queries q [B, H, L, D]: heads [0, shared) always on;
/// of the routed heads, the top_k by ‖q_h‖₂ / std(‖q‖ over routed heads) get gate 1, the rest 0.
template <class T>
token_gates moh_query_norm_gates(const tensor_view<T>& q, index_t shared_heads, index_t top_k) {
    const index_t B = q.batch(), H = q.heads(), L = q.tokens(), D = q.dim();
    const index_t routed = H - shared_heads;
    detail::require(q.data() != nullptr || q.size() == 0, "moh_query_norm_gates: q has null data");
    detail::require(shared_heads >= 0 && routed >= 0, "moh_query_norm_gates: shared heads (", shared_heads, ") must be in [0, ", H, "]");
    detail::require(top_k >= 0 && top_k <= routed, "moh_query_norm_gates: top_k (", top_k, ") must be in [0, routed heads = ", routed, "]");
    std::vector<float> zeros;
    detail::checked_assign(zeros, detail::checked_product("moh_query_norm_gates: q", B, L, H), 0.0f, "moh_query_norm_gates: q");
    token_gates g(std::move(zeros), B, L, H);
    std::vector<float> logit(static_cast<std::size_t>(routed));
    for (index_t b = 0; b < B; ++b)
        for (index_t t = 0; t < L; ++t) {
            for (index_t h = 0; h < shared_heads; ++h) g.at(b, t, h) = 1.0f;
            if (routed == 0 || top_k == 0) continue;
            double mean = 0;
            for (index_t h = 0; h < routed; ++h) {
                double sq = 0;
                for (index_t d = 0; d < D; ++d) {
                    const double x = static_cast<double>(to_float(q(b, shared_heads + h, t, d)));
                    sq += x * x;
                }
                detail::require(!std::isnan(sq), "moh_query_norm_gates: q has a NaN (batch ", b, ", head ", shared_heads + h, ", token ", t,
                                "): its norm cannot be ranked");
                logit[static_cast<std::size_t>(h)] = static_cast<float>(std::sqrt(sq));
                mean += std::sqrt(sq);
            }
            mean /= static_cast<double>(routed);
            double var = 0;
            for (float x : logit) var += (x - mean) * (x - mean);
            const double sd = std::sqrt(var / static_cast<double>(routed));
            if (sd > 0)
                for (float& x : logit) x = static_cast<float>(x / sd);
            for (index_t h : detail::top_k_indices(logit.data(), routed, top_k)) g.at(b, t, shared_heads + h) = 1.0f;
        }
    return g;
}

/// BAM-style soft mixture: experts are query heads sharing K/V; gates softmax(logits) over the
/// experts of each (batch, token), logits [B][L][experts]. Sum the gated expert outputs to mix.
inline token_gates soft_mixture_gates(index_t batch, index_t tokens, index_t experts, const std::vector<float>& logits) {
    detail::require(batch >= 1, "soft_mixture_gates: batch must be ≥ 1, got ", batch);
    detail::require(tokens >= 0, "soft_mixture_gates: tokens must be ≥ 0, got ", tokens);
    detail::require(experts >= 1, "soft_mixture_gates: experts must be ≥ 1 (a softmax over no experts), got ", experts);
    const index_t n = detail::checked_product("soft_mixture_gates: batch × tokens × experts", batch, tokens, experts);
    detail::require(static_cast<index_t>(logits.size()) == n, "soft_mixture_gates: ", logits.size(),
                    " logits, expected batch × tokens × experts = ", n);
    detail::require_finite_logits(logits, "soft_mixture_gates: logits");
    token_gates g(logits, batch, tokens, experts);
    for (index_t row = 0; row < batch * tokens; ++row) detail::softmax_in_place(g.gates.data() + row * experts, experts);
    return g;
}

}  // namespace attune
