#pragma once
// ACT, attention calibration (Yu et al., "Unveiling and Harnessing Hidden Attention Sinks", 2024),
// on chosen heads, after the softmax:
//   column score a_j = mean of p_ij over the queries that see j (kernel/probe_pass.hpp);
//   sinks S = {j : a_j > θ} minus the first token (key 0);
//   per row, m_i = Σ_{j∈S} p_ij:  p'_ij = β·p_ij on S,  p'_ij = p_ij·(1 − β·m_i)/(1 − m_i) elsewhere.
// In output form, o'_i = β·u_i + c_i·(o_i − u_i), u_i = Σ_{j∈S} p_ij v_j, c_i = (1 − β m_i)/(1 − m_i).
//
//   attune::act_calibration act{/*heads*/ {3, 7}};          β = 0.4, θ = 0.1 (the paper's defaults)
//   attune::act_report r = attune::act_attention(q, k, v, out, act, attune::variant<attune::causal>{});
//
// Passes: the forward pass (with LSE); the probe's column pass on the calibrated heads (QKᵀ, no
// P·V); the patch, which evaluates each row's p_ij and v_j on its sinks only (sink_terms.hpp),
// O(N·|S|·d), in parallel over (batch, head, 64 rows). Uncalibrated heads run the forward pass only.
// Decode (one query) is the same call: the column mean of a lone row is p_j, so a sink is
// s_j > LSE + ln θ. Masks, score modifiers, GQA, routers (gates scale u and o alike) and split-KV
// decode pass through to every pass. Choices the paper leaves open:
//  - a row with (nearly) all its mass on sinks, 1 − m_i < 1e-4, is left unchanged: its non-sink
//    part o − u is then below float's resolution of o (and m_i, from scores recomputed key by key,
//    carries an error of ~1e-5 for scores of magnitude ~100), so c_i·(o − u) would be noise;
//  - with a sink policy (sink logit, key bias) the sink term is not a key of S: it stays in o − u
//    and is scaled by c_i like the other non-sink keys; p uses the LSE that includes the sink term.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/calibration/sink_terms.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/probe/attention_probe.hpp"
#include "attune/exec/region.hpp"

namespace attune {

/// Rows with 1 − m_i below this keep their output (see above).
inline constexpr float act_mass_guard = 1e-4f;

/// Which heads ACT calibrates, and its two parameters.
struct act_calibration {
    std::vector<index_t> heads;  ///< calibrated query heads, each at most once; empty: none (plain attention)
    float beta = 0.4f;           ///< β: the share of its mass a sink keeps
    float theta = 0.1f;          ///< θ: the column score above which a key is a sink
};

/// The sinks found, per (batch, calibrated head): sinks[b·Hq + h] (empty for other heads).
struct act_report {
    std::vector<std::vector<index_t>> sinks;  ///< sinks[b·Hq + h]: the key positions found as sinks
    index_t q_heads = 0;                      ///< Hq of the call
    /// The sinks of batch b, query head h (checked).
    const std::vector<index_t>& sinks_of(index_t b, index_t h) const {
        detail::require(h >= 0 && h < q_heads && b >= 0 && q_heads > 0 && b < static_cast<index_t>(sinks.size()) / q_heads,
                        "act_report::sinks_of: (batch ", b, ", head ", h, ") is outside the report");
        return sinks[static_cast<std::size_t>(b * q_heads + h)];
    }
};

namespace detail {
// The calibration passes' intermediate outputs and LSEs: grow-only, per calling thread, so that
// repeated calls (a decode loop) neither allocate nor page-fault. Every element is written by the
// attention pass that fills it.
struct calibration_scratch {
    kernel::buffer out[2], lse[3], row;
    static calibration_scratch& local() {
        thread_local calibration_scratch s;
        return s;
    }
};
// A contiguous float [b][h][t][d] view over a scratch buffer.
inline tensor_view<float> dense_view(kernel::buffer& buf, index_t b, index_t h, index_t t, index_t d) {
    return tensor_view<float>(buf.get(b * h * t * d), {b, h, t, d}, {h * t * d, t * d, d});
}
}  // namespace detail

/// Softmax attention of q, k, v into out (as attune::attention, with variant `var_in` and options
/// `opt_in`, on executor `exec`), then ACT on the query heads `act.heads`: finds each head's sinks
/// from its column scores and rescales their share of every row. Returns the sinks found.
template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor>
act_report act_attention(const Q& q, const K& k, const V& v, const O& out, const act_calibration& act, const Var& var_in = {},
                         const options& opt_in = {}, const Exec& exec = {}) {
    using detail::require;
    const auto var = to_variant(var_in);
    using VV = std::decay_t<decltype(var)>;
    static_assert(VV::family_type::has_lse, "attune::act_attention: ACT calibrates softmax attention");
    require(std::isfinite(act.beta) && act.beta >= 0.0f && act.beta <= 1.0f, "act_calibration: beta must be in [0, 1], got ", act.beta);
    require(std::isfinite(act.theta) && act.theta >= 0.0f, "act_calibration: theta must be finite and ≥ 0, got ", act.theta);
    // Shapes, null data and overlap (out and the LSE against q, k, v and each other), before any pass.
    (void)detail::make_problem<typename Q::value_type, typename K::value_type, typename V::value_type, typename O::value_type>(q, k, v, out,
                                                                                                                               opt_in);
    detail::require_head_set(act.heads, q.heads(), "act_calibration: head");

    act_report rep;
    rep.q_heads = q.heads();
    rep.sinks.resize(static_cast<std::size_t>(q.batch() * q.heads()));  // ≤ q's size: make_problem checked dim > 0
    // 1. The forward pass, with an LSE (the caller's, or ours).
    options opt = opt_in;
    if (opt.lse.empty())
        opt.lse =
            lse_view(detail::calibration_scratch::local().lse[1].get(q.batch() * q.heads() * q.tokens()), q.batch(), q.heads(), q.tokens());
    attention<Arch>(q, k, v, out, var, opt, exec);
    if (act.heads.empty() || q.tokens() == 0 || k.tokens() == 0) return rep;

    // 2. Column scores on the calibrated heads; the sinks.
    probe_options po;
    po.scale = opt.scale;
    po.heads = act.heads;
    po.rows = false;  // ACT needs the column means only
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

    // 3. The patch, o' = β·u + c·(o − u), with m and u over each row's sinks (sink_terms.hpp:
    // O(|S|·d) per row); the router's gate g scales o, so u is scaled by g too.
    using TO = typename O::value_type;
    const auto in = detail::make_sink_inputs(q, k, v, opt.scale);
    const index_t nh = static_cast<index_t>(pr.heads.size());
    const index_t chunk = 64, chunks = (q.tokens() + chunk - 1) / chunk;  // rows per item: enough items for many threads
    ::attune::detail::parallel_for(exec, q.batch() * nh * chunks, [&](index_t item) {
        const index_t b = item / (nh * chunks), h = pr.heads[static_cast<std::size_t>((item / chunks) % nh)];
        const index_t i_begin = (item % chunks) * chunk, i_end = std::min(q.tokens(), i_begin + chunk);
        const std::vector<index_t>& sinks = rep.sinks_of(b, h);
        if (sinks.empty()) return;
        detail::calibration_scratch& s = detail::calibration_scratch::local();
        float* qs = s.row.get(q.dim() + k.dim() + v.dim());
        float* kbuf = qs + q.dim();
        float* u = kbuf + k.dim();
        for (index_t i = i_begin; i < i_end; ++i) {
            const float l = *opt.lse.row(b, h, i);
            const row_context rc{b, h, i, k.tokens() - q.tokens() + i};
            const float g = var.router().gate(rc);
            if (l == neg_inf || g == 0.0f) continue;
            const index_context row = in.template load_row<Arch>(b, h, i, qs);
            for (index_t d = 0; d < v.dim(); ++d) u[d] = 0.0f;
            const float m =
                detail::sink_terms<Arch>(var, qs, in.k, in.v, row, sinks.data(), static_cast<index_t>(sinks.size()), l, kbuf, u);
            if (m == 0.0f || !(1.0f - m >= act_mass_guard)) continue;  // no sink mass; (nearly) all of it on sinks, or NaN: unchanged
            const float c = (1.0f - act.beta * m) / (1.0f - m);
            TO* o = out.row(b, h, i);
            for (index_t d = 0; d < v.dim(); ++d) {
                const float ug = g * u[d];
                o[d] = from_float<TO>(act.beta * ug + c * (to_float(o[d]) - ug));
            }
        }
    });
    return rep;
}

}  // namespace attune
