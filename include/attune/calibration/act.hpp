#pragma once
// ACT, attention calibration (SPEC.md §6), on chosen heads, after the softmax:
//   column score a_j = mean of p_ij over the queries that see j (kernel/probe_pass.hpp);
//   sinks S = {j : a_j > θ} minus the first token (key 0);
//   per row, m_i = Σ_{j∈S} p_ij:  p'_ij = β·p_ij on S,  p'_ij = p_ij·(1 − β·m_i)/(1 − m_i) elsewhere.
// In output form, o'_i = β·u_i + c_i·(o_i − u_i), u_i = Σ_{j∈S} p_ij v_j, c_i = (1 − β m_i)/(1 − m_i).
//
//   attune::act_calibration act{/*heads*/ {3, 7}};          β = 0.4, θ = 0.1 (the paper's defaults)
//   attune::act_report r = attune::act_attention(q, k, v, out, act, attune::variant<attune::causal>{});
//
// Passes: the forward pass (with LSE); the probe's column pass on the calibrated heads (QKᵀ, no
// P·V); one more attention pass restricted to each head's sinks, whose (o_S, LSE_S) give
// u_i = e^{LSE_S − LSE}·o_S and m_i = e^{LSE_S − LSE} — its tiles are the few that hold sinks, so
// the patch is O(N·|S|·d). Uncalibrated heads run the forward pass only.
// Decode (one query) is the same call: the column mean of a lone row is p_j, so a sink is
// s_j > LSE + ln θ (SPEC.md). Masks, score modifiers, GQA, routers (gates scale u and o alike)
// and split-KV decode pass through to every pass. Choices where SPEC.md is silent:
//  - a row with all its mass on sinks (1 − m_i < 1e-6) has nothing to receive the mass: unchanged;
//  - with a sink policy (sink logit, key bias) the sink term is not a key of S: it stays in o − u
//    and is scaled by c_i like the other non-sink keys; p uses the LSE with the sink (SPEC.md §6).
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/mask/combine.hpp"
#include "attune/mask/key_span.hpp"
#include "attune/probe/attention_probe.hpp"
#include "attune/router/head_subset.hpp"
#include "attune/sink/none.hpp"

namespace attune {

struct act_calibration {
    std::vector<index_t> heads;  // calibrated query heads; empty: none (plain attention)
    float beta = 0.4f;           // β: the share of its mass a sink keeps
    float theta = 0.1f;          // θ: the column score above which a key is a sink
};

// The sinks found, per (batch, calibrated head): sinks[b·Hq + h] (empty for other heads).
struct act_report {
    std::vector<std::vector<index_t>> sinks;
    index_t q_heads = 0;
    const std::vector<index_t>& sinks_of(index_t b, index_t h) const { return sinks[static_cast<std::size_t>(b * q_heads + h)]; }
};

namespace detail {
// A contiguous float [b][h][t][d] view over a vector.
inline tensor_view<float> dense_view(std::vector<float>& buf, index_t b, index_t h, index_t t, index_t d) {
    buf.assign(static_cast<std::size_t>(b * h * t * d), 0.0f);
    return tensor_view<float>(buf.data(), {b, h, t, d}, {h * t * d, t * d, d});
}
}  // namespace detail

template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor>
act_report act_attention(const Q& q, const K& k, const V& v, const O& out, const act_calibration& act, const Var& var_in = {},
                         const options& opt_in = {}, const Exec& exec = {}) {
    using detail::require;
    const auto var = to_variant(var_in);
    using VV = std::decay_t<decltype(var)>;
    static_assert(VV::family_type::has_lse, "attune::act_attention: ACT calibrates softmax attention");
    require(std::isfinite(act.beta) && act.beta >= 0.0f && act.beta <= 1.0f, "act_calibration: beta must be in [0, 1], got ", act.beta);
    require(std::isfinite(act.theta) && act.theta >= 0.0f, "act_calibration: theta must be finite and ≥ 0, got ", act.theta);
    for (index_t h : act.heads)
        require(h >= 0 && h < q.heads(), "act_calibration: head ", h, " is outside [0, ", q.heads(), ")");

    act_report rep;
    rep.q_heads = q.heads();
    rep.sinks.resize(static_cast<std::size_t>(q.batch() * q.heads()));
    // 1. The forward pass, with an LSE (the caller's, or ours).
    options opt = opt_in;
    std::vector<float> lse_buf;
    if (opt.lse.empty()) {
        lse_buf.assign(static_cast<std::size_t>(q.batch() * q.heads() * q.tokens()), 0.0f);
        opt.lse = lse_view(lse_buf.data(), q.batch(), q.heads(), q.tokens());
    }
    attention<Arch>(q, k, v, out, var, opt, exec);
    if (act.heads.empty() || q.tokens() == 0 || k.tokens() == 0) return rep;

    // 2. Column scores on the calibrated heads; the sinks.
    probe_options po;
    po.scale = opt.scale;
    po.heads = act.heads;
    const attention_probe pr = probe_attention<Arch>(q, k, tensor_view<const float>(opt.lse), var, po, exec);
    bool any = false;
    for (index_t b = 0; b < q.batch(); ++b)
        for (index_t h : pr.heads) {
            auto& s = rep.sinks[static_cast<std::size_t>(b * q.heads() + h)];
            s.clear();
            for (index_t j = 1; j < k.tokens(); ++j)  // the first token is never a sink
                if (pr.column_mean(b, h, j) > act.theta) s.push_back(j);
            any = any || !s.empty();
        }
    if (!any) return rep;

    // 3. Attention over each row's sinks alone (no sink policy: its term is not in S).
    std::vector<float> os_buf, ls_buf(static_cast<std::size_t>(q.batch() * q.heads() * q.tokens()), 0.0f);
    const tensor_view<float> os = detail::dense_view(os_buf, q.batch(), q.heads(), q.tokens(), v.dim());
    options so;
    so.scale = opt.scale;
    so.kv_splits = opt.kv_splits;
    so.lse = lse_view(ls_buf.data(), q.batch(), q.heads(), q.tokens());
    auto only_sinks = with_sink(with_mask(var, and_mask(var.mask(), key_set_mask(rep.sinks, q.heads()))), no_sink{});
    auto restricted = with_router(only_sinks, head_subset<typename VV::router_type>(var.router(), q.heads(), act.heads));
    attention<Arch>(q, k, v, os, restricted, so, exec);

    // 4. The patch: o' = β·u + c·(o − u).
    using TO = typename O::value_type;
    for (index_t b = 0; b < q.batch(); ++b)
        for (index_t h : pr.heads) {
            if (rep.sinks_of(b, h).empty()) continue;
            for (index_t i = 0; i < q.tokens(); ++i) {
                const float ls = *so.lse.row(b, h, i), l = *opt.lse.row(b, h, i);
                if (ls == neg_inf || l == neg_inf) continue;
                const float m = std::exp(ls - l);
                if (!(1.0f - m >= 1e-6f)) continue;  // all mass on sinks (or NaN): unchanged
                const float c = (1.0f - act.beta * m) / (1.0f - m);
                TO* o = out.row(b, h, i);
                const float* us = os.row(b, h, i);
                for (index_t d = 0; d < v.dim(); ++d) {
                    const float u = m * us[d];
                    o[d] = from_float<TO>(act.beta * u + c * (to_float(o[d]) - u));
                }
            }
        }
    return rep;
}

}  // namespace attune
