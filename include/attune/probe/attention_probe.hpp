#pragma once
// Attention probes (the sink metrics of Gu et al., "When Attention Sink Emerges", 2024): statistics of the probability matrix P without
// writing it. Run the forward pass with an LSE output, then
//
//   attune::attention_probe pr = attune::probe_attention(q, k, lse, var);
//   pr.column_mean(b, h, k)     α_k: mean of p_ik over the queries i that see key k
//   pr.column_sum(b, h, k)      Σ_i p_ik
//   pr.entropy(b, h, i)         −Σ_j p_ij ln p_ij (nats)
//   pr.top1(b, h, i)            the key with the largest score (the first one on ties), −1: none
//   attune::sink_fraction(pr, 0.3f)   Sink_k^ε: per batch and key, the fraction of probed heads with α_k > ε
//
// The probe is a second pass over QKᵀ (kernel/probe_pass.hpp: the engine's loop without P·V) with
// the same variant as the forward pass: its mask, score modifier, router and GQA layout; a sink
// is already in the LSE (its mass is not a key's, so Σ_j p_ij = row_mass < 1 then). Rows the
// forward pass left empty (nothing visible, or switched off by a router) give mass 0, entropy 0,
// top-1 −1. "Queries that see k" counts the rows of this call whose mask admits k: for causal
// prefill of N tokens that is N − k (the paper's 1/(T − k + 1) in 1-based positions).
// Cost: the work of the forward pass's QKᵀ and exp; memory O(heads · Lk) for the columns.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/executor.hpp"
#include "attune/kernel/probe_pass.hpp"
#include "attune/router/head_subset.hpp"
#include "attune/simd/arch.hpp"
#include "attune/variant.hpp"

namespace attune {

struct probe_options {
    float scale = 0.0f;          // the forward pass's τ; 0 means 1/√Dk
    std::vector<index_t> heads;  // query heads to probe, each at most once; empty: all
    bool columns = true;         // column statistics: sums, counts (means)
    bool rows = true;            // row statistics: mass, entropy, top-1
};

// Probe results, float and contiguous: columns [batch][q_heads][k_tokens], rows [batch][q_heads][q_tokens].
struct attention_probe {
    index_t batch = 0, q_heads = 0, q_tokens = 0, k_tokens = 0;
    std::vector<index_t> heads;        // the probed query heads
    std::vector<float> column_sums;    // Σ_i p_ik (empty when columns were not asked for)
    std::vector<float> column_counts;  // queries that see k
    std::vector<float> row_mass;       // Σ_j p_ij (empty when rows were not asked for)
    std::vector<float> row_entropy;    // −Σ_j p_ij ln p_ij
    std::vector<index_t> row_top1;     // argmax_j s_ij, −1: none

    // Accessors check their indices and that the statistic was computed (a probe run with
    // columns = false has no column arrays): a bad index is an attune::error, not a stray read.
    std::size_t column_index(index_t b, index_t h, index_t k) const {
        detail::require(b >= 0 && b < batch && h >= 0 && h < q_heads && k >= 0 && k < k_tokens, "attention_probe: column (", b, ", ", h,
                        ", ", k, ") is outside [", batch, ", ", q_heads, ", ", k_tokens, ")");
        detail::require(!column_sums.empty(), "attention_probe: the probe ran without columns");
        return static_cast<std::size_t>((b * q_heads + h) * k_tokens + k);
    }
    std::size_t row_index(index_t b, index_t h, index_t i) const {
        detail::require(b >= 0 && b < batch && h >= 0 && h < q_heads && i >= 0 && i < q_tokens, "attention_probe: row (", b, ", ", h, ", ",
                        i, ") is outside [", batch, ", ", q_heads, ", ", q_tokens, ")");
        detail::require(!row_mass.empty(), "attention_probe: the probe ran without rows");
        return static_cast<std::size_t>((b * q_heads + h) * q_tokens + i);
    }
    float column_sum(index_t b, index_t h, index_t k) const { return column_sums[column_index(b, h, k)]; }
    float column_count(index_t b, index_t h, index_t k) const { return column_counts[column_index(b, h, k)]; }
    // α_k; 0 for a key no query sees.
    float column_mean(index_t b, index_t h, index_t k) const {
        const float c = column_count(b, h, k);
        return c > 0.0f ? column_sum(b, h, k) / c : 0.0f;
    }
    float entropy(index_t b, index_t h, index_t i) const { return row_entropy[row_index(b, h, i)]; }
    float mass(index_t b, index_t h, index_t i) const { return row_mass[row_index(b, h, i)]; }
    index_t top1(index_t b, index_t h, index_t i) const { return row_top1[row_index(b, h, i)]; }
};

namespace detail {
// A list of query heads used as a set (calibrated or probed heads): each in [0, q_heads), none
// twice — a repeated head would be patched twice, by two threads at once.
inline void require_head_set(const std::vector<index_t>& heads, index_t q_heads, const char* what) {
    for (index_t h : heads) require(h >= 0 && h < q_heads, what, " ", h, " is outside [0, ", q_heads, ")");
    std::vector<index_t> sorted(heads);  // O(n log n) in the list, not O(q_heads): q may be a broadcast view
    std::sort(sorted.begin(), sorted.end());
    const auto twice = std::adjacent_find(sorted.begin(), sorted.end());
    require(twice == sorted.end(), what, " ", twice == sorted.end() ? index_t(0) : *twice, " is listed twice");
}

// ---- probe_attention's steps ----

// Null data, shapes, the scale and the probed heads, before anything is computed (errors name the
// function `fn`); returns the column statistics' size (batch × q heads × k tokens).
template <class TQ, class TK>
index_t check_probe(const tensor_view<const TQ>& q, const tensor_view<const TK>& k, const tensor_view<const float>& lse,
                    const probe_options& opt, const char* fn = "probe_attention", const char* heads_what = "probe_options::heads: head") {
    require(q.data() != nullptr || q.size() == 0, fn, ": q has null data");
    require(k.data() != nullptr || k.size() == 0, fn, ": k has null data");
    require(lse.data() != nullptr || lse.size() == 0, fn, ": lse has null data");
    require(q.batch() > 0 && q.heads() > 0 && k.heads() > 0 && q.dim() > 0, fn, ": q and k need batch, heads and dim > 0");
    require(k.batch() == q.batch(), fn, ": k batch (", k.batch(), ") differs from q batch (", q.batch(), ")");
    require(k.dim() == q.dim(), fn, ": k head dim (", k.dim(), ") differs from q head dim (", q.dim(), ")");
    require(q.heads() % k.heads() == 0, fn, ": query heads (", q.heads(), ") are not divisible by kv heads (", k.heads(), ")");
    require(lse.batch() == q.batch() && lse.heads() == q.heads() && lse.tokens() == q.tokens() && lse.dim() == 1, fn, ": lse must be [",
            q.batch(), ", ", q.heads(), ", ", q.tokens(), ", 1] (the forward pass's options::lse)");
    require(k.tokens() < kernel::max_float_exact_position, fn, ": at most 2^24 keys");
    require(std::isfinite(opt.scale) && opt.scale >= 0.0f, fn, ": scale must be finite and ≥ 0, got ", opt.scale);
    require_head_set(opt.heads, q.heads(), heads_what);
    // Column statistics hold [batch][q heads][slots][k tokens] floats (slots ≤ query tiles): checked
    // here, since q may be a broadcast (stride-0) view far larger than its memory.
    return checked_product("probe_attention: column statistics (batch × q heads × k tokens)", q.batch(), q.heads(), k.tokens());
}

// The result's sizes and probed heads (all of them when opt.heads is empty).
inline attention_probe probe_result(index_t batch, index_t q_heads, index_t q_tokens, index_t k_tokens, const probe_options& opt) {
    attention_probe res;
    res.batch = batch, res.q_heads = q_heads, res.q_tokens = q_tokens, res.k_tokens = k_tokens;
    if (opt.heads.empty()) {
        checked_reserve(res.heads, q_heads, "probe_attention: probed heads");
        for (index_t h = 0; h < q_heads; ++h) res.heads.push_back(h);
    } else {
        res.heads = opt.heads;
    }
    return res;
}

// The probe pass's problem: the forward pass's shapes and scale, no V (dv = dk).
template <class TQ, class TK>
kernel::problem<TQ, TK, TK, float> probe_problem(const tensor_view<const TQ>& q, const tensor_view<const TK>& k, const probe_options& opt) {
    kernel::problem<TQ, TK, TK, float> p{q, k, k, tensor_view<float>{}, tensor_view<float>{}, 0.0f, 0, 0, 0, 0, 0, 0, 0, 0};
    p.scale = opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(static_cast<float>(q.dim()));
    p.batch = q.batch(), p.q_heads = q.heads(), p.kv_heads = k.heads(), p.group = q.heads() / k.heads();
    p.lq = q.tokens(), p.lk = k.tokens(), p.dk = q.dim(), p.dv = q.dim();
    return p;
}

// The row arrays (mass 0, entropy 0, top-1 −1), and with no queries or no keys the columns (zeros).
inline void init_probe_result(attention_probe& res, const probe_options& opt, index_t column_floats) {
    const std::size_t rows = static_cast<std::size_t>(res.batch * res.q_heads * res.q_tokens);
    if (opt.rows) {
        const char* what = "probe_attention: row statistics (batch × q heads × q tokens)";
        checked_assign(res.row_mass, static_cast<index_t>(rows), 0.0f, what);
        checked_assign(res.row_entropy, static_cast<index_t>(rows), 0.0f, what);
        checked_assign(res.row_top1, static_cast<index_t>(rows), index_t(-1), what);
    }
    if ((res.q_tokens == 0 || res.k_tokens == 0) && opt.columns) {
        checked_assign(res.column_sums, column_floats, 0.0f, "probe_attention: column statistics");
        res.column_counts = res.column_sums;
    }
}

// The pass's partial statistics: per slot for the columns, per key split for the rows.
struct probe_partials {
    std::vector<float> cols, counts;              // [batch × q heads][slots][k tokens]
    std::vector<float> mass, ps, best, best_key;  // [batch × q heads × q tokens][splits]
};

// Sizes the partials and points the pass's outputs at them.
inline void bind_probe_partials(kernel::probe_outputs& out, probe_partials& part, const kernel::work_plan& plan, const probe_options& opt,
                                index_t column_floats) {
    if (opt.columns) {
        const index_t n = checked_mul(column_floats, out.slots, "probe_attention: column statistics");
        checked_assign(part.cols, n, 0.0f, "probe_attention: column statistics");
        checked_assign(part.counts, n, 0.0f, "probe_attention: column statistics");
        out.column_sum = part.cols.data();
        out.column_count = part.counts.data();
    }
    const std::size_t rs =
        opt.rows ? static_cast<std::size_t>(out.batch * out.q_heads * out.lq) * static_cast<std::size_t>(plan.splits) : 0;
    part.mass.assign(rs, 0.0f), part.ps.assign(rs, 0.0f), part.best.assign(rs, neg_inf), part.best_key.assign(rs, -1.0f);
    if (opt.rows)
        out.row_mass = part.mass.data(), out.row_ps = part.ps.data(), out.row_best = part.best.data(),
        out.row_best_key = part.best_key.data();
}

// Columns: the slots' partial sums, in slot order.
inline void sum_probe_columns(attention_probe& res, const probe_partials& part, index_t slots) {
    const std::size_t lk = static_cast<std::size_t>(res.k_tokens);
    const std::size_t bhs = static_cast<std::size_t>(res.batch * res.q_heads);
    res.column_sums.assign(bhs * lk, 0.0f);
    res.column_counts.assign(res.column_sums.size(), 0.0f);
    for (std::size_t bh = 0; bh < bhs; ++bh)
        for (index_t s = 0; s < slots; ++s) {
            const float* cs = part.cols.data() + (bh * static_cast<std::size_t>(slots) + static_cast<std::size_t>(s)) * lk;
            const float* cc = part.counts.data() + (bh * static_cast<std::size_t>(slots) + static_cast<std::size_t>(s)) * lk;
            for (std::size_t j = 0; j < lk; ++j) res.column_sums[bh * lk + j] += cs[j], res.column_counts[bh * lk + j] += cc[j];
        }
}

// Rows: the key splits combined in key order (the first maximum wins ties).
inline void combine_probe_rows(attention_probe& res, const tensor_view<const float>& lse, const probe_partials& part, index_t splits) {
    for (index_t b = 0; b < res.batch; ++b)
        for (index_t h = 0; h < res.q_heads; ++h)
            for (index_t i = 0; i < res.q_tokens; ++i) {
                const std::size_t r = res.row_index(b, h, i);
                float m = 0.0f, sp = 0.0f, bs = neg_inf, bk = -1.0f;
                for (index_t s = 0; s < splits; ++s) {
                    const std::size_t x = r * static_cast<std::size_t>(splits) + static_cast<std::size_t>(s);
                    m += part.mass[x], sp += part.ps[x];
                    if (part.best[x] > bs) bs = part.best[x], bk = part.best_key[x];
                }
                const float l = *lse.row(b, h, i);
                res.row_mass[r] = m;
                res.row_entropy[r] = m > 0.0f ? l * m - sp : 0.0f;
                res.row_top1[r] = static_cast<index_t>(bk);
            }
}
}  // namespace detail

template <class Arch = default_arch, class Q, class K, class Var = variant<>, class Exec = default_executor>
attention_probe probe_attention(const Q& q_in, const K& k_in, tensor_view<const float> lse, const Var& var_in = {},
                                const probe_options& opt = {}, const Exec& exec = {}) {
    using TQ = std::remove_const_t<typename Q::element_type>;
    using TK = std::remove_const_t<typename K::element_type>;
    const auto var0 = to_variant(var_in);
    using V0 = std::decay_t<decltype(var0)>;
    static_assert(V0::family_type::has_lse, "attune::probe_attention: the probe needs a family with an LSE (softmax)");
    const tensor_view<const TQ> q(q_in);
    const tensor_view<const TK> k(k_in);
    const index_t column_floats = detail::check_probe(q, k, lse, opt);
    attention_probe res = detail::probe_result(q.batch(), q.heads(), q.tokens(), k.tokens(), opt);
    // Only the probed heads run: the user's router restricted to them.
    const auto var = with_router(var0, head_subset<typename V0::router_type>(var0.router(), q.heads(), res.heads));
    const kernel::problem<TQ, TK, TK, float> p = detail::probe_problem(q, k, opt);
    detail::validate_policy(var.mask(), p);
    detail::validate_policy(var.score(), p);
    detail::validate_policy(var.router(), p);
    detail::init_probe_result(res, opt, column_floats);
    if (p.lq == 0 || p.lk == 0) return res;

    const kernel::work_plan plan =
        kernel::make_plan(p.batch, p.kv_heads, p.group, p.lq, p.lk, exec.workers(), 0, detail::router_density(var.router()));
    kernel::probe_outputs out;
    out.batch = p.batch, out.q_heads = p.q_heads, out.lq = p.lq, out.lk = p.lk, out.splits = plan.splits;
    out.slots = opt.columns ? kernel::probe_slots(plan, p.batch, p.kv_heads, exec.workers()) : 1;
    detail::probe_partials part;
    detail::bind_probe_partials(out, part, plan, opt, column_floats);
    kernel::run_probe<Arch>(p, var, exec, plan, lse, out);
    if (opt.columns) detail::sum_probe_columns(res, part, out.slots);
    if (opt.rows) detail::combine_probe_rows(res, lse, part, plan.splits);
    return res;
}

// Sink_k^ε (Gu et al. 2024): per batch and key, [batch][k_tokens], the fraction of the probed heads
// whose column mean α_k exceeds ε (default 0.3).
inline std::vector<float> sink_fraction(const attention_probe& pr, float eps = 0.3f) {
    detail::require(!pr.column_sums.empty() || pr.k_tokens == 0 || pr.batch == 0, "sink_fraction: the probe ran without columns");
    std::vector<float> f(static_cast<std::size_t>(pr.batch * pr.k_tokens), 0.0f);
    if (pr.heads.empty()) return f;
    for (index_t b = 0; b < pr.batch; ++b)
        for (index_t k = 0; k < pr.k_tokens; ++k) {
            index_t n = 0;
            for (index_t h : pr.heads) n += pr.column_mean(b, h, k) > eps ? 1 : 0;
            f[static_cast<std::size_t>(b * pr.k_tokens + k)] = static_cast<float>(n) / static_cast<float>(pr.heads.size());
        }
    return f;
}

}  // namespace attune
