#pragma once
// Gather (top-k) attention, as in top-k decode (Gupta et al. 2021, "Memory-efficient Transformers via Top-k Attention"): each query row attends only to a given list of keys.
//
//   attune::index_view idx{list.data(), /*batch*/ 1, /*heads*/ Hkv, /*tokens*/ 1, /*count*/ n};
//   attune::sparse::gather_attention(q, k, v, idx, out);
//
// idx is a contiguous [batch][heads][tokens][count] array of key positions in [0, Lk) of k and v:
//  - heads is Hkv (one list per kv head, shared by its group's query heads) or Hq (one per query head);
//  - tokens is Lq (one list per query token) or 1 (one list for every query token);
//  - a negative entry is padding (lists of different lengths); an entry listed twice counts twice.
// The listed keys are the row's whole visible set: no mask applies on top. Rows with no key give
// zeros (LSE −inf), as attune::attention does.
// A variant (family, score modifier, sink, router) may be given before the options:
//   attune::sparse::gather_attention(q, k, v, idx, out, attune::variant(attune::softcap{30}, attune::sink_logit{z}));
// its head-indexed policies see the whole call's heads (sparse/head_offset.hpp), the sink enters a
// row once (split part 0 only; ⊕ adds the rest). Its mask must be none and its score modifier one
// that reads no positions (none, softcap): a listed key's place in the gathered tile is not its
// position, and position ids are per sequence while lists are per head (attune::error otherwise).
//
// How: per (batch, list head, list token) the listed K and V rows are gathered into a small
// per-thread scratch tile (count × dim, the cache's storage type; the cache itself is never copied
// whole) and attune::attention runs on it with the serial executor — every item is one call of the
// ordinary tile engine, the items run in parallel on the caller's executor. When there are fewer
// lists than twice the workers (decode), long lists are cut into parts of ≥ 256 keys merged with ⊕
// (attune::merge); options::kv_splits, when set, is that part count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "attune/simd/prefetch.hpp"
#include "attune/attention.hpp"
#include "attune/core/types.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/serial.hpp"
#include "attune/merge.hpp"
#include "attune/exec/region.hpp"
#include "attune/sink/none.hpp"
#include "attune/sparse/head_offset.hpp"

namespace attune {

// Lists of key positions, contiguous [batch][heads][tokens][count]; entries < 0 are padding.
struct index_view {
    const index_t* data = nullptr;
    index_t batch = 0, heads = 0, tokens = 0, count = 0;
    const index_t* row(index_t b, index_t h, index_t t) const noexcept { return data + ((b * heads + h) * tokens + t) * count; }
};

namespace sparse {
namespace detail {

// Asks for a K row and a V row ahead of their copy (every 64-byte line of each).
template <class TK, class TV>
inline void prefetch_rows(const TK* k, index_t dk, const TV* v, index_t dv) noexcept {
    simd::prefetch_row(k, dk);
    simd::prefetch_row(v, dv);
}

// A K or V operand: rows of an element type (a tensor_view) or of a quantized format (a quant_view,
// sparse/gather_quantized.hpp). What the gather needs of it:
//   element                 what the scratch holds (T, or the bytes of quantized rows)
//   row_elems(x)            elements one row takes
//   require_data(x, name)
//   require_clear(out, out_name, x, x_name)   out shares no memory with x
//   tile(x, hkv, data, m)   m gathered rows of kv head hkv, contiguous at data, as attention's operand
//   problem(q, k, v, out, opt)   the attention problem, for the variant's checks
template <class X>
struct gather_operand;
template <class T>
struct gather_operand<tensor_view<T>> {
    using element = std::remove_const_t<T>;
    static index_t row_elems(const tensor_view<T>& x) noexcept { return x.dim(); }
    static void require_data(const tensor_view<T>& x, const char* name) { attune::detail::require_data(x, name); }
    template <class O>
    static void require_clear(const tensor_view<O>& out, const char* out_name, const tensor_view<T>& x, const char* x_name) {
        attune::detail::require_disjoint_output(out, out_name, attune::detail::named(x, x_name));
    }
    static tensor_view<const element> tile(const tensor_view<T>&, index_t, const element* data, index_t m, index_t dim) {
        return tensor_view<const element>(data, {1, 1, m, dim}, {0, 0, dim});
    }
    template <class Q, class V, class O>
    static auto problem(const tensor_view<Q>& q, const tensor_view<T>& k, const V& v, const tensor_view<O>& out, const options& opt) {
        using TV = typename gather_operand<V>::element;
        return attune::detail::make_problem<std::remove_const_t<Q>, element, TV, O>(tensor_view<const Q>(q), tensor_view<const element>(k),
                                                                                    tensor_view<const TV>(v), out, opt);
    }
};

template <class TK, class TV>
struct gather_scratch {
    std::vector<TK> k;
    std::vector<TV> v;
    static gather_scratch& local() {
        thread_local gather_scratch s;
        return s;
    }
};

// ---- validation: everything, once, before any output is written ----

// The views: data, shapes, head dims, overlap of out with the inputs, the scale.
template <class Q, class K, class V, class O>
void check_gather_views(const tensor_view<Q>& q, const K& k, const V& v, const tensor_view<O>& out, const options& opt) {
    using attune::detail::named;
    using attune::detail::require;
    const index_t B = q.batch(), Hq = q.heads(), Lq = q.tokens(), Hkv = k.heads(), Lk = k.tokens();
    attune::detail::require_data(q, "gather_attention: q");
    gather_operand<K>::require_data(k, "gather_attention: k");
    gather_operand<V>::require_data(v, "gather_attention: v");
    attune::detail::require_data(out, "gather_attention: out");
    require(k.batch() == B && v.batch() == B && out.batch() == B, "gather_attention: q, k, v and out must have the same batch");
    require(Hkv > 0 && Hq > 0 && Hq % Hkv == 0, "gather_attention: query heads (", Hq, ") are not a positive multiple of kv heads (", Hkv,
            ")");
    require(v.heads() == Hkv && v.tokens() == Lk, "gather_attention: v must have k's heads and tokens");
    require(q.dim() > 0 && v.dim() > 0, "gather_attention: head dims must be > 0 (q ", q.dim(), ", v ", v.dim(), ")");
    require(k.dim() == q.dim(), "gather_attention: k head dim (", k.dim(), ") differs from q's (", q.dim(), ")");
    require(out.heads() == Hq && out.tokens() == Lq && out.dim() == v.dim(), "gather_attention: out must be [", B, ", ", Hq, ", ", Lq, ", ",
            v.dim(), "]");
    attune::detail::require_disjoint_output(out, "gather_attention: out", named(q, "q"));
    gather_operand<K>::require_clear(out, "gather_attention: out", k, "k");
    gather_operand<V>::require_clear(out, "gather_attention: out", v, "v");
    require(std::isfinite(opt.scale) && opt.scale >= 0.0f, "gather_attention: scale must be finite and ≥ 0, got ", opt.scale);
}

// The index list's shape against q's and k's, kv_splits; returns the entry count.
inline index_t check_gather_lists(const index_view& idx, index_t B, index_t Hq, index_t Hkv, index_t Lq, const options& opt) {
    using attune::detail::require;
    require(idx.batch == B, "gather_attention: index batch (", idx.batch, ") differs from q's (", B, ")");
    require(idx.heads == Hkv || idx.heads == Hq, "gather_attention: index heads (", idx.heads, ") must be the kv heads (", Hkv,
            ") or the query heads (", Hq, ")");
    require(idx.tokens == Lq || idx.tokens == 1, "gather_attention: index tokens (", idx.tokens, ") must be q's tokens (", Lq, ") or 1");
    require(idx.count >= 0, "gather_attention: index count must be ≥ 0, got ", idx.count);
    require(opt.kv_splits >= 0, "gather_attention: kv_splits must be ≥ 0, got ", opt.kv_splits);
    const index_t total = attune::detail::checked_product("gather_attention: index count", B, idx.heads, idx.tokens, idx.count);
    require(total == 0 || idx.data != nullptr, "gather_attention: index list has null data");
    return total;
}

// options::lse, when given: its shape and its overlap with the inputs and out.
template <class Q, class K, class V, class O>
void check_gather_lse(const tensor_view<Q>& q, const K& k, const V& v, const tensor_view<O>& out, const options& opt) {
    using attune::detail::named;
    if (opt.lse.empty()) return;
    const index_t B = q.batch(), Hq = q.heads(), Lq = q.tokens();
    attune::detail::require(opt.lse.batch() == B && opt.lse.heads() == Hq && opt.lse.tokens() == Lq && opt.lse.dim() == 1,
                            "gather_attention: lse must be [", B, ", ", Hq, ", ", Lq, ", 1]");
    attune::detail::require_disjoint_output(opt.lse, "gather_attention: options::lse", named(q, "q"), named(out, "out"));
    gather_operand<K>::require_clear(opt.lse, "gather_attention: options::lse", k, "k");
    gather_operand<V>::require_clear(opt.lse, "gather_attention: options::lse", v, "v");
}

// Every index, in full (negative entries are padding), and the size of the gathered rows (dk, dv:
// the elements a K and a V row take).
inline void check_gather_entries(const index_view& idx, index_t total, index_t Lk, index_t dk, index_t dv) {
    for (index_t e = 0; e < total; ++e)
        attune::detail::require(idx.data[e] < Lk, "gather_attention: key index ", idx.data[e], " at entry ", e, " is out of range (k has ",
                                Lk, " tokens)");
    (void)attune::detail::checked_mul(idx.count, dk > dv ? dk : dv, "gather_attention: gathered rows (index count × head dim)");
}

template <class Q, class K, class V, class O>
void check_gather(const tensor_view<Q>& q, const K& k, const V& v, const index_view& idx, const tensor_view<O>& out, const options& opt) {
    check_gather_views(q, k, v, out, opt);
    const index_t total = check_gather_lists(idx, q.batch(), q.heads(), k.heads(), q.tokens(), opt);
    check_gather_lse(q, k, v, out, opt);
    check_gather_entries(idx, total, k.tokens(), gather_operand<K>::row_elems(k), gather_operand<V>::row_elems(v));
}

// ---- planning ----

// The work items: lists × key parts, each list covering `per` query heads × `toks` query tokens.
struct gather_plan {
    index_t per, toks, lists, splits, part, rows, dv;
    float* ws;  // [lists][splits]: rows × dv outputs, then rows LSEs (splits > 1 only)
};

// Few long lists (decode: one per kv head) are cut into parts so every worker has one; the parts'
// (output, LSE) are merged with ⊕ (attune::merge). opt.kv_splits forces the part count.
template <class Exec>
index_t gather_splits(const options& opt, const Exec& exec, index_t lists, index_t count) {
    index_t splits = opt.kv_splits;
    if (splits <= 0) {
        const index_t workers = exec.workers();
        splits = 1;
        if (lists < 2 * workers && count >= 512) splits = (2 * workers + lists - 1) / lists;
        if (splits > count / 256) splits = count / 256;
    }
    if (splits > count) splits = count;
    if (splits < 1) splits = 1;
    return splits;
}

// The split parts' outputs and LSEs: per-thread, grow-only.
inline float* gather_split_workspace(const gather_plan& pl) {
    thread_local std::vector<float> workspace;
    if (pl.splits > 1) {
        const index_t n = attune::detail::checked_product("gather_attention: split workspace", pl.lists, pl.splits, pl.rows, pl.dv + 1);
        if (static_cast<std::size_t>(n) > workspace.size())
            attune::detail::checked_assign(workspace, n, 0.0f, "gather_attention: split workspace");
    }
    return workspace.data();
}

template <class Exec>
gather_plan make_gather_plan(const index_view& idx, index_t Hq, index_t Hkv, index_t Lq, index_t dv, const options& opt, const Exec& exec,
                             bool mergeable = true) {
    gather_plan pl;
    pl.per = idx.heads == Hq ? 1 : Hq / Hkv;  // query heads per list
    pl.toks = idx.tokens == 1 ? Lq : 1;       // query tokens per list
    pl.lists = idx.batch * idx.heads * idx.tokens;
    // A family without row statistics (sigmoid) has no LSE to merge parts with: one part per list.
    pl.splits = mergeable ? gather_splits(opt, exec, pl.lists, idx.count) : 1;
    pl.part = (idx.count + pl.splits - 1) / pl.splits;
    pl.rows = pl.per * pl.toks;
    pl.dv = dv;
    pl.ws = gather_split_workspace(pl);
    return pl;
}

// Split part sp of list `list`: its output rows and LSEs in the workspace.
inline tensor_view<float> part_out(const gather_plan& pl, index_t list, index_t sp) {
    return tensor_view<float>(pl.ws + (list * pl.splits + sp) * pl.rows * (pl.dv + 1), {1, pl.per, pl.toks, pl.dv},
                              {0, pl.toks * pl.dv, pl.dv});
}
inline tensor_view<float> part_lse(const gather_plan& pl, index_t list, index_t sp) {
    return lse_view(pl.ws + (list * pl.splits + sp) * pl.rows * (pl.dv + 1) + pl.rows * pl.dv, 1, pl.per, pl.toks);
}

// List `it` of the index: batch b, list head hi, list token t; first query head h0 and token t0.
struct gather_list {
    index_t b, hi, t, h0, t0;
};
inline gather_list list_at(const index_view& idx, const gather_plan& pl, index_t it) {
    gather_list l;
    l.t = it % idx.tokens, l.hi = (it / idx.tokens) % idx.heads, l.b = it / (idx.tokens * idx.heads);
    l.h0 = l.hi * pl.per, l.t0 = idx.tokens == 1 ? 0 : l.t;
    return l;
}

// The list's rows of a [B, H, L, dim] view (out or options::lse): per query heads × toks tokens.
template <class T>
tensor_view<T> list_rows(const tensor_view<T>& x, const gather_plan& pl, const gather_list& l) {
    const auto& xs = x.strides();
    return tensor_view<T>(x.row(l.b, l.h0, l.t0), {1, pl.per, pl.toks, x.dim()}, {0, xs[1], xs[2]});
}

// ---- one item: gather a list's part, attend to it ----

// Copies the listed K and V rows of entries [e0, e1) into kd, vd (padding skipped); returns the row count.
template <class K, class V, class TK, class TV>
index_t copy_listed_rows(const K& k, const V& v, const index_t* list, index_t e0, index_t e1, index_t b, index_t hkv, TK* kd, TV* vd) {
    const index_t dk = gather_operand<K>::row_elems(k), dv = gather_operand<V>::row_elems(v);
    index_t m = 0;
    constexpr index_t ahead = 8;  // rows in flight: listed rows are scattered, the hardware prefetcher cannot guess them
    for (index_t e = e0; e < e1; ++e) {
        if (e + ahead < e1 && list[e + ahead] >= 0) prefetch_rows(k.row(b, hkv, list[e + ahead]), dk, v.row(b, hkv, list[e + ahead]), dv);
        const index_t j = list[e];
        if (j < 0) continue;
        std::copy_n(k.row(b, hkv, j), dk, kd + m * dk);
        std::copy_n(v.row(b, hkv, j), dv, vd + m * dv);
        ++m;
    }
    return m;
}

template <class Arch, class Q, class K, class V, class O, class Var>
void gather_item(const tensor_view<Q>& q, const K& k, const V& v, const index_view& idx, const tensor_view<O>& out, const Var& var,
                 const options& opt, const gather_plan& pl, index_t item) {
    using TK = typename gather_operand<K>::element;
    using TV = typename gather_operand<V>::element;
    const index_t Hq = q.heads(), Hkv = k.heads(), kr = gather_operand<K>::row_elems(k), vr = gather_operand<V>::row_elems(v);
    const index_t it = item / pl.splits, sp = item % pl.splits;
    const gather_list l = list_at(idx, pl, it);
    const index_t hkv = idx.heads == Hq ? l.hi / (Hq / Hkv) : l.hi;
    const index_t e0 = sp * pl.part, e1 = e0 + pl.part < idx.count ? e0 + pl.part : idx.count;
    auto& s = gather_scratch<TK, TV>::local();
    if (static_cast<index_t>(s.k.size()) < pl.part * kr)
        attune::detail::checked_assign(s.k, pl.part * kr, TK{}, "gather_attention: gathered keys");
    if (static_cast<index_t>(s.v.size()) < pl.part * vr)
        attune::detail::checked_assign(s.v, pl.part * vr, TV{}, "gather_attention: gathered values");
    const index_t m = copy_listed_rows(k, v, idx.row(l.b, l.hi, l.t), e0, e1, l.b, hkv, s.k.data(), s.v.data());
    const auto& qs = q.strides();
    const tensor_view<const std::remove_const_t<Q>> qv(q.row(l.b, l.h0, l.t0), {1, pl.per, pl.toks, q.dim()}, {0, qs[1], qs[2]});
    const auto kv = gather_operand<K>::tile(k, hkv, s.k.data(), m, k.dim());
    const auto vv = gather_operand<V>::tile(v, hkv, s.v.data(), m, v.dim());
    options o;
    o.scale = opt.scale;
    o.int8_query = opt.int8_query, o.int8_pv = opt.int8_pv,
    o.int8_qk = opt.int8_qk;  // the kernels' options; splits and LSE are the gather's
    // No mask: every gathered key is visible (bottom-right alignment plays no part). The variant's
    // head-indexed parts see the whole call's heads.
    const auto shifted = with_head_offset(var, l.h0, hkv);
    if (pl.splits > 1) {
        o.lse = part_lse(pl, it, sp);
        if (sp == 0) attention<Arch>(qv, kv, vv, part_out(pl, it, sp), shifted, o, serial_executor{});
        else attention<Arch>(qv, kv, vv, part_out(pl, it, sp), with_sink(shifted, no_sink{}), o, serial_executor{});  // the sink once
        return;
    }
    if (!opt.lse.empty()) o.lse = list_rows(opt.lse, pl, l);
    attention<Arch>(qv, kv, vv, list_rows(out, pl, l), shifted, o, serial_executor{});
}

// The variant against the whole call, before any output is written: no mask, a score modifier that
// reads no positions, the family's LSE, every policy's parameters.
template <class Var, class Q, class K, class V, class O>
void check_gather_variant(const Var& var, const tensor_view<Q>& q, const K& k, const V& v, const tensor_view<O>& out, const options& opt) {
    using attune::detail::require;
    using Vt = std::decay_t<Var>;
    require(attune::detail::is_none_v<typename Vt::mask_type>,
            "gather_attention: variant: a mask other than none is not accepted (the listed keys are the rows' visible set)");
    require(position_free_v<typename Vt::score_type>,
            "gather_attention: variant: only score modifiers that read no positions (none, softcap) are accepted "
            "(a listed key's place in the gathered tile is not its position)");
    if constexpr (!Vt::family_type::has_lse)
        require(opt.lse.empty(), "gather_attention: options::lse was given, but the variant's family (e.g. sigmoid) has no log-sum-exp");
    if (q.batch() == 0 || q.tokens() == 0) return;
    const auto p = gather_operand<K>::problem(q, k, v, out, opt);
    attune::detail::validate_policy(var.family(), p);
    attune::detail::validate_policy(var.score(), p);
    attune::detail::validate_policy(var.sink(), p);
    attune::detail::validate_policy(var.router(), p);
}

// ---- epilogue: a list's split parts merged with ⊕ into out (and options::lse) ----
template <class O>
void gather_merge(const index_view& idx, const tensor_view<O>& out, const options& opt, const gather_plan& pl, index_t it) {
    const gather_list l = list_at(idx, pl, it);
    for (index_t sp = 1; sp + 1 < pl.splits; ++sp)
        ::attune::detail::merge_rows(part_out(pl, it, 0), part_lse(pl, it, 0), part_out(pl, it, sp), part_lse(pl, it, sp),
                                     part_out(pl, it, 0), part_lse(pl, it, 0));
    tensor_view<float> lv;
    if (!opt.lse.empty()) lv = list_rows(opt.lse, pl, l);
    ::attune::detail::merge_rows(part_out(pl, it, 0), part_lse(pl, it, 0), part_out(pl, it, pl.splits - 1), part_lse(pl, it, pl.splits - 1),
                                 list_rows(out, pl, l), lv);
}

// The whole call for any K/V operands (gather_operand): validated once, the lists in parallel, the
// split parts merged.
template <class Arch, class Q, class K, class V, class O, class Var, class Exec>
void run_gather(const tensor_view<Q>& q, const K& k, const V& v, const index_view& idx, const tensor_view<O>& out, const Var& var_in,
                const options& opt, const Exec& exec) {
    // Everything is validated here, once, before any output is written: the per-list attention
    // calls below then cannot fail (their arguments are sub-views of the validated ones), so a bad
    // call writes nothing.
    check_gather(q, k, v, idx, out, opt);
    const auto& var = to_variant(var_in);
    check_gather_variant(var, q, k, v, out, opt);
    using Vt = std::decay_t<decltype(var)>;
    const gather_plan pl = make_gather_plan(idx, q.heads(), k.heads(), q.tokens(), v.dim(), opt, exec, Vt::family_type::row_statistics);
    ::attune::detail::parallel_for(exec, pl.lists * pl.splits,
                                   [&](index_t item) { gather_item<Arch>(q, k, v, idx, out, var, opt, pl, item); });
    if (pl.splits == 1) return;
    ::attune::detail::parallel_for(exec, pl.lists, [&](index_t it) { gather_merge(idx, out, opt, pl, it); });
}

}  // namespace detail

/// Attention of each query row over its listed keys only (see the top of this file), for the variant
/// `var` (a variant or one policy; no mask, a score modifier that reads no positions).
template <class Arch = default_arch, class Q, class K, class V, class O, class Var, class Exec = default_executor,
          std::enable_if_t<!std::is_same_v<std::decay_t<Var>, options>, int> = 0>
void gather_attention(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const index_view& idx,
                      const tensor_view<O>& out, const Var& var, const options& opt = {}, const Exec& exec = {}) {
    detail::run_gather<Arch>(q, k, v, idx, out, var, opt, exec);
}

/// Attention of each query row over its listed keys only, plain softmax (see the top of this file).
template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
void gather_attention(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const index_view& idx,
                      const tensor_view<O>& out, const options& opt = {}, const Exec& exec = {}) {
    gather_attention<Arch>(q, k, v, idx, out, variant<>{}, opt, exec);
}

}  // namespace sparse
}  // namespace attune
