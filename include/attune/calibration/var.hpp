#pragma once
// VAR, visual attention redistribution (Kang et al., "See What You Are Told", 2025), for vision-language models: the sink tokens S
// are known in advance (S_v = S ∩ I are image sinks, the rest text sinks) and the image tokens
// span I = [image_first, image_last]. For a row i of a calibrated head with
//   P_I = Σ_{j∈I} p_ij ≥ image_mass (0.2)   and   Σ_{j∈S_v} p_ij ≤ ρ·P_I (ρ = 0.5),
// every sink probability is scaled by p (0.6) and the freed mass (1 − p)·Σ_{j∈S} p_ij goes to the
// non-sink image tokens I ∖ S_v in proportion to their probabilities; other rows are unchanged:
//   o'_i = o_i − (1 − p)·u_S + (1 − p)·P_S · u_{I∖Sv} / P_{I∖Sv}     (u_X = Σ_{j∈X} p_ij v_j, P_X = Σ_{j∈X} p_ij).
//
//   attune::var_calibration vc{/*sinks*/ {0, 5, 40}, /*image*/ 5, 580};
//   attune::var_attention(q, k, v, out, vc, attune::variant<attune::causal>{});
//
// One pass's work, split by keys: attention over the keys outside I (with the variant's sink) and
// over I (without), each giving (o, LSE), merged with ⊕ — the two parts cost what one pass does.
// The paper's extra accumulators are then u_I = e^{LSE_I − LSE}·o_I, P_I = e^{LSE_I − LSE}, and the
// sink terms P_Sv, u_Sv, P_St, u_St, evaluated per row on the |S| sink keys (sink_terms.hpp).
// u_{I∖Sv} = u_I − u_Sv: where the rule applies, P_Sv ≤ ρ·P_I, so the difference loses at most a
// factor 1/(1 − ρ) of relative precision.
// Which rows: by default those the authors' code calibrates (Kang et al.'s released VisAttnSink,
// HeadFork / VARProcessor.attn_redist): rows whose position is after the image span (in prefill
// the image tokens themselves and the text before them are left alone; a decode row is after it),
// and nothing at all when no sink lies in the image span (no visual sink: the head is not
// "forked", text sinks alone redistribute nothing). var_selection::every_row keeps attune's
// earlier reading of the paper's rule: every row, text sinks alone suffice.
// Masks, score modifiers, GQA, routers and split-KV decode pass through to every part.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/calibration/act.hpp"
#include "attune/calibration/sink_terms.hpp"
#include "attune/mask/combine.hpp"
#include "attune/mask/key_span.hpp"
#include "attune/router/router.hpp"
#include "attune/sink/none.hpp"
#include "attune/exec/region.hpp"

namespace attune {

/// Which query rows VAR may calibrate (the row rule on P_I and P_Sv applies to those rows).
enum class var_selection {
    after_image,  ///< the authors' code: rows after the image span, and only when a sink lies in the span
    every_row,    ///< every row; text sinks alone are redistributed when no sink lies in the span
};

struct var_calibration {
    std::vector<index_t> sinks;  // S: sink token positions (image sinks are those inside the image span)
    index_t image_first = 0;     // I = [image_first, image_last], key positions
    index_t image_last = -1;
    std::vector<index_t> heads;                       // calibrated query heads, each at most once; empty: all
    float p = 0.6f;                                   // the share of its mass a sink keeps
    float rho = 0.5f;                                 // rows whose image sinks hold more than ρ of the image mass are unchanged
    float image_mass = 0.2f;                          // rows with less image mass are unchanged
    var_selection rows = var_selection::after_image;  // which rows may be calibrated (the authors' by default)
};

namespace detail {

// The calibration's span and factors (its sinks and heads are checked where they are read).
inline void check_var_calibration(const var_calibration& vc, index_t k_tokens) {
    require(vc.image_first >= 0 && vc.image_first <= vc.image_last, "var_calibration: the image span [", vc.image_first, ", ",
            vc.image_last, "] is empty or negative");
    require(vc.image_last < k_tokens, "var_calibration: the image span ends at ", vc.image_last, ", past the ", k_tokens, " keys");
    require(std::isfinite(vc.p) && vc.p >= 0.0f && vc.p <= 1.0f, "var_calibration: p must be in [0, 1], got ", vc.p);
    require(std::isfinite(vc.rho) && vc.rho >= 0.0f && vc.rho < 1.0f, "var_calibration: rho must be in [0, 1), got ", vc.rho);
    require(std::isfinite(vc.image_mass) && vc.image_mass >= 0.0f, "var_calibration: image_mass must be ≥ 0, got ", vc.image_mass);
    require(vc.rows == var_selection::after_image || vc.rows == var_selection::every_row,
            "var_calibration: rows is not a var_selection value (", static_cast<int>(vc.rows), ")");
}

// S split into the image sinks S_v (inside the image span) and the text sinks, each sorted, each
// sink once.
struct var_sinks {
    std::vector<index_t> image, text;
};
inline var_sinks split_var_sinks(const var_calibration& vc, index_t k_tokens) {
    var_sinks s;
    for (index_t j : vc.sinks) {
        require(j >= 0 && j < k_tokens, "var_calibration: sink position ", j, " is outside [0, ", k_tokens, ")");
        (j >= vc.image_first && j <= vc.image_last ? s.image : s.text).push_back(j);
    }
    for (auto* list : {&s.image, &s.text}) {  // a sink counts once
        std::sort(list->begin(), list->end());
        list->erase(std::unique(list->begin(), list->end()), list->end());
    }
    return s;
}

// calibrated[h]: 1 where query head h is calibrated (every head when vc.heads is empty).
inline std::vector<unsigned char> var_calibrated_heads(const var_calibration& vc, index_t q_heads) {
    std::vector<unsigned char> calibrated(static_cast<std::size_t>(q_heads), vc.heads.empty() ? 1 : 0);
    require_head_set(vc.heads, q_heads, "var_calibration: head");
    for (index_t h : vc.heads) calibrated[static_cast<std::size_t>(h)] = 1;
    return calibrated;
}

// One of the two passes (keys outside I, keys in I): its output and LSE in per-thread scratch.
struct var_part {
    tensor_view<float> ov;
    options opt;
};
inline var_part make_var_part(calibration_scratch& scratch, int n, index_t B, index_t H, index_t L, index_t D, const options& opt) {
    var_part pt;
    pt.ov = dense_view(scratch.out[n], B, H, L, D);
    pt.opt.scale = opt.scale;
    pt.opt.kv_splits = opt.kv_splits;
    pt.opt.lse = lse_view(scratch.lse[n].get(B * H * L), B, H, L);
    return pt;
}

// What the per-row step reads: the parts, the sinks, the rule's parameters.
template <class Var, class In>
struct var_rows {
    const Var& var;
    const In& in;  // q, k, v as the sink terms read them
    const var_calibration& vc;
    const var_sinks& sinks;
    const std::vector<unsigned char>& calibrated;
    const var_part& outside;
    const var_part& image;
    index_t L, D, k_tokens;
    float keep;  // 1 − p
};

// A row's float work space: o, u_Sv, u_St (D each), the scaled q row, a K row.
struct var_row_buffers {
    float *o, *usv, *ust, *qs, *kbuf;
};

inline float var_weight(float lx, float l) { return lx == neg_inf ? 0.0f : std::exp(lx - l); }

// The ⊕ of the two parts at row (b, h, i) into o; returns the row's LSE, P_I in pi.
inline float merge_var_parts(const var_part& outside, const var_part& image, index_t b, index_t h, index_t i, index_t D, float* o,
                             float& pi) {
    const float la = *outside.opt.lse.row(b, h, i), li = *image.opt.lse.row(b, h, i);
    const float m = la > li ? la : li;
    const float l = m == neg_inf ? neg_inf : m + std::log(var_weight(la, m) + var_weight(li, m));
    const float pa = var_weight(la, l);
    pi = var_weight(li, l);
    const float* oa = outside.ov.row(b, h, i);
    const float* oi = image.ov.row(b, h, i);
    for (index_t d = 0; d < D; ++d) o[d] = pa * oa[d] + pi * oi[d];
    return l;
}

// P_Sv and P_St of row (b, h, i), with u_Sv and u_St in w.usv, w.ust (sink_terms.hpp).
struct var_sink_mass {
    float image, text;
};
template <class Arch, class Var, class In>
var_sink_mass var_sink_terms(const var_rows<Var, In>& cx, index_t b, index_t h, index_t i, float l, const var_row_buffers& w) {
    const index_context row = cx.in.template load_row<Arch>(b, h, i, w.qs);
    for (index_t d = 0; d < cx.D; ++d) w.usv[d] = w.ust[d] = 0.0f;
    var_sink_mass p;
    p.image = sink_terms<Arch>(cx.var, w.qs, cx.in.k, cx.in.v, row, cx.sinks.image.data(), static_cast<index_t>(cx.sinks.image.size()), l,
                               w.kbuf, w.usv);
    p.text = sink_terms<Arch>(cx.var, w.qs, cx.in.k, cx.in.v, row, cx.sinks.text.data(), static_cast<index_t>(cx.sinks.text.size()), l,
                              w.kbuf, w.ust);
    return p;
}

// Row (b, h, i): the ⊕ of the parts; where the head is calibrated and the row has the image mass,
// the sink terms, the rule and the redistribution
//   o += −(1 − p)·(u_Sv + u_St) + (1 − p)·P_S·(u_I − u_Sv)/(P_I − P_Sv);
// then out (and options::lse). Rows a part saw nothing of hold zeros there, so their weight 0
// multiplies zeros. The parts' outputs carry the router's gate g; the sink terms are scaled by g
// to match. (The update loop stays in this function: moved into its own, GCC contracts its
// products into FMAs differently and the last bits change.)
template <class Arch, class Var, class In, class O>
void var_row(const var_rows<Var, In>& cx, const O& out, const options& opt, index_t b, index_t h, index_t i, const var_row_buffers& w) {
    using TO = typename O::value_type;
    float pi;
    const float l = merge_var_parts(cx.outside, cx.image, b, h, i, cx.D, w.o, pi);
    const row_context rc{b, h, i, cx.k_tokens - cx.L + i};
    const bool selected = cx.vc.rows == var_selection::every_row || (rc.q_pos > cx.vc.image_last && !cx.sinks.image.empty());
    const float g =
        selected && cx.calibrated[static_cast<std::size_t>(h)] && l != neg_inf && pi >= cx.vc.image_mass ? cx.var.router().gate(rc) : 0.0f;
    if (g != 0.0f && (!cx.sinks.image.empty() || !cx.sinks.text.empty())) {
        const var_sink_mass ps = var_sink_terms<Arch>(cx, b, h, i, l, w);
        const float psv = ps.image, pst = ps.text;
        // The rule: the image sinks' share of the image mass; P_{I∖Sv} > 0 follows from ρ < 1.
        if (psv <= cx.vc.rho * pi && pi - psv > 0.0f && psv + pst > 0.0f) {
            const float* oi = cx.image.ov.row(b, h, i);
            const float keep = cx.keep;
            const float f = keep * (psv + pst) / (pi - psv);
            for (index_t d = 0; d < cx.D; ++d) {
                const float sv = g * w.usv[d], st = g * w.ust[d];
                w.o[d] += -keep * (sv + st) + f * (pi * oi[d] - sv);
            }
        }
    }
    TO* dst = out.row(b, h, i);
    for (index_t d = 0; d < cx.D; ++d) dst[d] = from_float<TO>(w.o[d]);
    if (!opt.lse.empty()) *opt.lse.row(b, h, i) = l;
}

}  // namespace detail

template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor>
void var_attention(const Q& q, const K& k, const V& v, const O& out, const var_calibration& vc, const Var& var_in = {},
                   const options& opt = {}, const Exec& exec = {}) {
    const auto var = to_variant(var_in);
    using VV = std::decay_t<decltype(var)>;
    static_assert(VV::family_type::has_lse, "attune::var_attention: VAR calibrates softmax attention");
    // Shapes, null data and overlap (out and the LSE against q, k, v and each other), before any pass.
    (void)detail::make_problem<typename Q::value_type, typename K::value_type, typename V::value_type, typename O::value_type>(q, k, v, out,
                                                                                                                               opt);
    detail::check_var_calibration(vc, k.tokens());
    const detail::var_sinks sinks = detail::split_var_sinks(vc, k.tokens());
    const std::vector<unsigned char> calibrated = detail::var_calibrated_heads(vc, q.heads());

    const index_t B = q.batch(), H = q.heads(), L = q.tokens(), D = v.dim();
    // The two parts, each with its output and LSE (per-thread scratch); the first carries the sink.
    detail::calibration_scratch& scratch = detail::calibration_scratch::local();
    const detail::var_part outside = detail::make_var_part(scratch, 0, B, H, L, D, opt),
                           image = detail::make_var_part(scratch, 1, B, H, L, D, opt);
    attune::attention<Arch>(q, k, v, outside.ov, with_mask(var, and_mask(var.mask(), outside_key_span_mask(vc.image_first, vc.image_last))),
                            outside.opt, exec);
    attune::attention<Arch>(q, k, v, image.ov,
                            with_sink(with_mask(var, and_mask(var.mask(), key_span_mask(vc.image_first, vc.image_last))), no_sink{}),
                            image.opt, exec);

    // Per row, in parallel over (batch, head, 64 rows): the ⊕ of the two parts, the sink terms
    // (sink_terms.hpp), the rule and the redistribution (detail::var_row).
    const auto in = detail::make_sink_inputs(q, k, v, opt.scale);
    const detail::var_rows<VV, decltype(in)> cx{var, in, vc, sinks, calibrated, outside, image, L, D, k.tokens(), 1.0f - vc.p};
    const index_t chunk = 64, chunks = (L + chunk - 1) / chunk;  // rows per item: enough items for many threads
    ::attune::detail::parallel_for(exec, B * H * chunks, [&](index_t item) {
        const index_t b = item / (H * chunks), h = (item / chunks) % H;
        const index_t i_begin = (item % chunks) * chunk, i_end = std::min(L, i_begin + chunk);
        float* o = detail::calibration_scratch::local().row.get(D * 3 + q.dim() + k.dim());
        const detail::var_row_buffers w{o, o + D, o + 2 * D, o + 3 * D, o + 3 * D + q.dim()};
        for (index_t i = i_begin; i < i_end; ++i) detail::var_row<Arch>(cx, out, opt, b, h, i, w);
    });
}

}  // namespace attune
