#pragma once
// Attention over a batch of sequences of different lengths in one call, as serving engines run it
// (FlashAttention's varlen, vLLM's and FlashInfer's batch kernels): queries packed with offsets,
// keys packed the same way or in pages of a pool; prefill chunks and decode rows mixed freely.
//
//   attune::ragged_attention(q, q_offsets, k, v, k_offsets, out, variant);   keys packed
//   attune::paged_attention(q, q_offsets, attune::paged_kv<T>{k_pool, v_pool, table}, out, variant);
//
// q: [1, Hq, total_q, Dk] (attune::packed_view for [total_q, Hq, Dk] memory), out: [1, Hq, total_q, Dv];
// sequence s's queries are q's rows q_offsets[s] .. q_offsets[s + 1], and its keys either k's and v's
// rows k_offsets[s] .. k_offsets[s + 1] (k: [1, Hkv, total_k, Dk]) or its pages (core/paged.hpp).
// Each sequence is one attention problem with batch index s: its queries are its last keys
// (bottom-right, so causal masks a chunk of new tokens against the cached ones), and every variant
// (masks, score modifiers, sinks, routers; batch index = s) works as in attune::attention — its
// tables must fit every sequence. A sequence without queries costs nothing; one without keys gives
// zeros. options::lse is [1, Hq, total_q, 1]; options::kv_splits, when > 0, splits every sequence.
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/attention.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/paged.hpp"
#include "attune/core/ragged.hpp"
#include "attune/core/view.hpp"
#include "attune/kernel/batch_driver.hpp"

namespace attune {
namespace detail {

// Rows [first, first + n) of a packed [1, H, total, D] view, as the view of batch index s of a
// batch of `count` (batch stride 0: every batch index reads these rows).
template <class T>
tensor_view<T> sequence_rows(const tensor_view<T>& packed, index_t first, index_t n, index_t count) {
    if (packed.empty()) return packed;
    return tensor_view<T>(packed.data() + first * packed.strides()[2], {count, packed.heads(), n, packed.dim()},
                          {0, packed.strides()[1], packed.strides()[2]});
}

// The checks every batch call shares: q and out packed alike, the offsets in full, lse.
template <class TQ, class TO>
void check_batch_queries(const char* who, const tensor_view<const TQ>& q, const seq_offsets& qo, const tensor_view<TO>& out,
                         index_t kv_heads, index_t dk, index_t dv, const options& opt) {
    require_data(q, "q");
    require_data(out, "out");
    require(q.batch() == 1, who, ": q must be packed as [1, Hq, total_q, Dk], got batch ", q.batch());
    require(q.heads() > 0 && kv_heads > 0, who, ": q and k need at least one head");
    require(q.heads() % kv_heads == 0, who, ": query heads (", q.heads(), ") are not divisible by kv heads (", kv_heads, ")");
    require(q.dim() == dk, who, ": q head dim (", q.dim(), ") differs from k head dim (", dk, ")");
    require(dk > 0 && dv > 0, who, ": head dims must be ≥ 1");
    check_offsets("q_offsets", qo, q.tokens());
    require(out.batch() == 1 && out.heads() == q.heads() && out.tokens() == q.tokens() && out.dim() == dv, who, ": out must be [1, ",
            q.heads(), ", ", q.tokens(), ", ", dv, "]");
    for (index_t s = 0; s < qo.sequences; ++s)
        require(qo.length(s) <= max_tokens, "q_offsets: sequence ", s, " has ", qo.length(s), " queries, over the limit");
    if (!opt.lse.empty())
        require(opt.lse.batch() == 1 && opt.lse.heads() == q.heads() && opt.lse.tokens() == q.tokens() && opt.lse.dim() == 1,
                "options::lse must be [1, ", q.heads(), ", ", q.tokens(), ", 1]");
    require(!opt.int8_qk || dk <= simd::int8::max_dims, who, ": options::int8_qk: head dim ", dk, " exceeds ", simd::int8::max_dims,
            " (the int32 sums of int8 products would overflow)");
    require(std::isfinite(opt.scale) && opt.scale >= 0.0f, "scale must be finite and ≥ 0 (0 selects 1/sqrt(dk)), got ", opt.scale);
    require(opt.kv_splits >= 0, "kv_splits must be ≥ 0, got ", opt.kv_splits);
}

// The checks of a paged call that hold for any pools (element or quantized rows): page size, the
// pools alike, q and out, and the table in full against the pool.
template <class KP, class VP, class TQ, class TO>
void check_paged_batch(const char* who, const char* table_name, const KP& kp, const VP& vp, const tensor_view<const TQ>& q,
                       const seq_offsets& qo, const tensor_view<TO>& out, const page_table& table, const options& opt) {
    require(kp.tokens() > 0, who, ": page size must be ≥ 1");
    require(vp.batch() == kp.batch() && vp.heads() == kp.heads() && vp.tokens() == kp.tokens(), who, ": v_pages [", vp.batch(), ", ",
            vp.heads(), ", ", vp.tokens(), ", ·] must match k_pages [", kp.batch(), ", ", kp.heads(), ", ", kp.tokens(),
            ", ·] (pages, kv heads, page size)");
    check_batch_queries(who, q, qo, out, kp.heads(), kp.dim(), vp.dim(), opt);
    require(table.sequences == qo.sequences, who, ": q_offsets has ", qo.sequences, " sequences but the page table has ", table.sequences);
    check_page_table(table_name, table, kp.batch(), kp.tokens());
}

// Sequence s's problem (batch index s of `count`), lengths lq and lk; k and v left to the caller.
template <class P, class TQ, class TO>
void fill_sequence(P& p, const tensor_view<const TQ>& q, const tensor_view<TO>& out, const options& opt, index_t s, index_t count,
                   index_t q_first, index_t lq, index_t lk, index_t kv_heads, index_t dv) {
    p.q = sequence_rows(q, q_first, lq, count);
    p.out = sequence_rows(out, q_first, lq, count);
    p.lse = sequence_rows(opt.lse, q_first, lq, count);
    p.scale = opt.scale > 0.0f ? opt.scale : 1.0f / std::sqrt(static_cast<float>(q.dim()));
    p.batch = count;
    p.q_heads = q.heads();
    p.kv_heads = kv_heads;
    p.group = q.heads() / kv_heads;
    p.lq = lq;
    p.lk = lk;
    p.dk = q.dim();
    p.dv = dv;
    p.ws = opt.workspace;
    p.int8_qk = opt.int8_qk;
    p.call_id = opt.int8_qk ? kernel::next_call_id() : 0;
    p.sequence = s;
}

// The family's LSE rule and every policy checked against every sequence, then the batch run.
template <class Arch, class Variant, class Exec, class P>
void run_batch_variant(const std::vector<P>& problems, const Variant& var, const options& opt, const Exec& exec) {
    using family = typename Variant::family_type;
    if constexpr (!family::has_lse)
        require(opt.lse.empty(), "options::lse was given, but this variant's family (e.g. sigmoid) has no log-sum-exp");
    for (const P& p : problems) {
        validate_policy(var.family(), p);
        validate_policy(var.mask(), p);
        validate_policy(var.score(), p);
        validate_policy(var.sink(), p);
        validate_policy(var.router(), p);
    }
    kernel::run_batch<Arch>(problems.data(), static_cast<index_t>(problems.size()), var, exec, opt.kv_splits);
}

template <class Arch, class Variant, class Exec, class P>
void run_batch_any(const std::vector<P>& problems, const Variant& var, const options& opt, const Exec& exec) {
    if constexpr (std::is_same_v<typename as_variant<Variant>::type, Variant>) run_batch_variant<Arch>(problems, var, opt, exec);
    else run_batch_variant<Arch>(problems, to_variant(var), opt, exec);
}

}  // namespace detail

/// Attention of a ragged batch with packed keys: sequence s's queries (q's rows q_offsets[s] …
/// q_offsets[s + 1]) attend over its keys and values (k's and v's rows k_offsets[s] …
/// k_offsets[s + 1]), bottom-right aligned, for the variant `var`. See the top of this file.
template <class Arch = default_arch, class Q, class K, class V, class O, class Var = variant<>, class Exec = default_executor>
void ragged_attention(const Q& q, const seq_offsets& q_offsets, const K& k, const V& v, const seq_offsets& k_offsets, const O& out,
                      const Var& var = {}, const options& opt = {}, const Exec& exec = {}) {
    using TQ = typename detail::view_element<Q>::type;
    using TK = typename detail::view_element<K>::type;
    using TV = typename detail::view_element<V>::type;
    using TO = typename detail::view_element<O>::type;
    static_assert(!std::is_const_v<typename O::element_type>, "attune::ragged_attention: out must be a view of non-const elements");
    static constexpr const char* who = "ragged_attention";
    const tensor_view<const TQ> qc = q;
    const tensor_view<const TK> kc = k;
    const tensor_view<const TV> vc = v;
    detail::require_data(kc, "k");
    detail::require_data(vc, "v");
    detail::require(k.batch() == 1 && v.batch() == 1, who, ": k and v must be packed as [1, Hkv, total_k, D]");
    detail::require(v.heads() == k.heads(), who, ": v heads (", v.heads(), ") differ from k heads (", k.heads(), ")");
    detail::require(v.tokens() == k.tokens(), who, ": v has ", v.tokens(), " rows but k has ", k.tokens());
    detail::check_batch_queries(who, qc, q_offsets, out, k.heads(), k.dim(), v.dim(), opt);
    detail::check_offsets("k_offsets", k_offsets, k.tokens());
    detail::require(k_offsets.sequences == q_offsets.sequences, who, ": q_offsets has ", q_offsets.sequences,
                    " sequences but k_offsets has ", k_offsets.sequences);
    for (index_t s = 0; s < k_offsets.sequences; ++s)
        detail::require(k_offsets.length(s) <= detail::max_tokens, "k_offsets: sequence ", s, " has too many keys");
    detail::require_disjoint_output(out, "out", detail::named(qc, "q"), detail::named(kc, "k"), detail::named(vc, "v"));
    if (!opt.lse.empty())
        detail::require_disjoint_output(opt.lse, "options::lse", detail::named(qc, "q"), detail::named(kc, "k"), detail::named(vc, "v"),
                                        detail::named(out, "out"));

    const index_t count = q_offsets.sequences;
    std::vector<kernel::problem<TQ, TK, TV, TO>> problems(static_cast<std::size_t>(count));
    for (index_t s = 0; s < count; ++s) {
        auto& p = problems[static_cast<std::size_t>(s)];
        detail::fill_sequence(p, qc, out, opt, s, count, q_offsets.begin(s), q_offsets.length(s), k_offsets.length(s), k.heads(), v.dim());
        p.k = detail::sequence_rows(kc, k_offsets.begin(s), k_offsets.length(s), count);
        p.v = detail::sequence_rows(vc, k_offsets.begin(s), k_offsets.length(s), count);
    }
    detail::run_batch_any<Arch>(problems, var, opt, exec);
}

/// Attention of a ragged batch over paged keys: sequence s's queries (q's rows q_offsets[s] …
/// q_offsets[s + 1]) attend over the first kv.table.lengths[s] keys of its pages, bottom-right
/// aligned, for the variant `var`. The table is validated in full. See the top of this file.
template <class Arch = default_arch, class Q, class TK, class TV, class O, class Var = variant<>, class Exec = default_executor>
void paged_attention(const Q& q, const seq_offsets& q_offsets, const paged_kv<TK, TV>& kv, const O& out, const Var& var = {},
                     const options& opt = {}, const Exec& exec = {}) {
    using TQ = typename detail::view_element<Q>::type;
    using TO = typename detail::view_element<O>::type;
    static_assert(!std::is_const_v<typename O::element_type>, "attune::paged_attention: out must be a view of non-const elements");
    static constexpr const char* who = "paged_attention";
    const tensor_view<const TQ> qc = q;
    const auto& kp = kv.k_pages;
    const auto& vp = kv.v_pages;
    detail::require_data(kp, "paged_kv::k_pages");
    detail::require_data(vp, "paged_kv::v_pages");
    detail::check_paged_batch(who, "paged_kv::table", kp, vp, qc, q_offsets, out, kv.table, opt);
    detail::require_disjoint_output(out, "out", detail::named(qc, "q"), detail::named(kp, "k_pages"), detail::named(vp, "v_pages"));
    if (!opt.lse.empty())
        detail::require_disjoint_output(opt.lse, "options::lse", detail::named(qc, "q"), detail::named(kp, "k_pages"),
                                        detail::named(vp, "v_pages"), detail::named(out, "out"));

    const index_t count = q_offsets.sequences;
    std::vector<kernel::paged_problem<TQ, TK, TV, TO>> problems(static_cast<std::size_t>(count));
    for (index_t s = 0; s < count; ++s) {
        auto& p = problems[static_cast<std::size_t>(s)];
        detail::fill_sequence(p, qc, out, opt, s, count, q_offsets.begin(s), q_offsets.length(s), kv.table.length(s), kp.heads(), vp.dim());
        p.k_pages = kp;
        p.v_pages = vp;
        p.pages = kv.table.pages(s);
    }
    detail::run_batch_any<Arch>(problems, var, opt, exec);
}

}  // namespace attune
