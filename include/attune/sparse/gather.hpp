#pragma once
// Gather (top-k) attention, SPEC.md §4: each query row attends only to a given list of keys.
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

#include "attune/attention.hpp"
#include "attune/cache/chunk.hpp"
#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/serial.hpp"
#include "attune/merge.hpp"
#include "attune/exec/region.hpp"

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
#if defined(__GNUC__)
    for (index_t i = 0; i < dk * static_cast<index_t>(sizeof(TK)); i += 64) __builtin_prefetch(reinterpret_cast<const char*>(k) + i);
    for (index_t i = 0; i < dv * static_cast<index_t>(sizeof(TV)); i += 64) __builtin_prefetch(reinterpret_cast<const char*>(v) + i);
#else
    (void)k, (void)dk, (void)v, (void)dv;
#endif
}

template <class TK, class TV>
struct gather_scratch {
    std::vector<TK> k;
    std::vector<TV> v;
    static gather_scratch& local() {
        thread_local gather_scratch s;
        return s;
    }
};

}  // namespace detail

template <class Arch = default_arch, class Q, class K, class V, class O, class Exec = default_executor>
void gather_attention(const tensor_view<Q>& q, const tensor_view<K>& k, const tensor_view<V>& v, const index_view& idx,
                      const tensor_view<O>& out, const options& opt = {}, const Exec& exec = {}) {
    using attune::detail::require;
    using attune::detail::named;
    using TK = std::remove_const_t<K>;
    using TV = std::remove_const_t<V>;
    // Everything is validated here, once, before any output is written: the per-list attention
    // calls below then cannot fail (their arguments are sub-views of the validated ones), so a bad
    // call writes nothing.
    const index_t B = q.batch(), Hq = q.heads(), Lq = q.tokens(), Hkv = k.heads(), Lk = k.tokens();
    attune::detail::require_data(q, "gather_attention: q");
    attune::detail::require_data(k, "gather_attention: k");
    attune::detail::require_data(v, "gather_attention: v");
    attune::detail::require_data(out, "gather_attention: out");
    require(k.batch() == B && v.batch() == B && out.batch() == B, "gather_attention: q, k, v and out must have the same batch");
    require(Hkv > 0 && Hq > 0 && Hq % Hkv == 0, "gather_attention: query heads (", Hq, ") are not a positive multiple of kv heads (", Hkv, ")");
    require(v.heads() == Hkv && v.tokens() == Lk, "gather_attention: v must have k's heads and tokens");
    require(q.dim() > 0 && v.dim() > 0, "gather_attention: head dims must be > 0 (q ", q.dim(), ", v ", v.dim(), ")");
    require(k.dim() == q.dim(), "gather_attention: k head dim (", k.dim(), ") differs from q's (", q.dim(), ")");
    require(out.heads() == Hq && out.tokens() == Lq && out.dim() == v.dim(), "gather_attention: out must be [", B, ", ", Hq, ", ", Lq,
            ", ", v.dim(), "]");
    attune::detail::require_disjoint_output(out, "gather_attention: out", named(q, "q"), named(k, "k"), named(v, "v"));
    require(std::isfinite(opt.scale) && opt.scale >= 0.0f, "gather_attention: scale must be finite and ≥ 0, got ", opt.scale);
    require(idx.batch == B, "gather_attention: index batch (", idx.batch, ") differs from q's (", B, ")");
    require(idx.heads == Hkv || idx.heads == Hq, "gather_attention: index heads (", idx.heads, ") must be the kv heads (", Hkv,
            ") or the query heads (", Hq, ")");
    require(idx.tokens == Lq || idx.tokens == 1, "gather_attention: index tokens (", idx.tokens, ") must be q's tokens (", Lq,
            ") or 1");
    require(idx.count >= 0, "gather_attention: index count must be ≥ 0, got ", idx.count);
    require(opt.kv_splits >= 0, "gather_attention: kv_splits must be ≥ 0, got ", opt.kv_splits);
    const index_t total = attune::detail::checked_product("gather_attention: index count", B, idx.heads, idx.tokens, idx.count);
    require(total == 0 || idx.data != nullptr, "gather_attention: index list has null data");
    if (!opt.lse.empty()) {
        require(opt.lse.batch() == B && opt.lse.heads() == Hq && opt.lse.tokens() == Lq && opt.lse.dim() == 1,
                "gather_attention: lse must be [", B, ", ", Hq, ", ", Lq, ", 1]");
        attune::detail::require_disjoint_output(opt.lse, "gather_attention: options::lse", named(q, "q"), named(k, "k"), named(v, "v"),
                                                named(out, "out"));
    }
    // Every index, in full (negative entries are padding).
    for (index_t e = 0; e < total; ++e)
        require(idx.data[e] < Lk, "gather_attention: key index ", idx.data[e], " at entry ", e, " is out of range (k has ", Lk,
                " tokens)");
    const index_t dk = k.dim(), dv = v.dim();
    (void)attune::detail::checked_mul(idx.count, dk > dv ? dk : dv, "gather_attention: gathered rows (index count × head dim)");

    const index_t per = idx.heads == Hq ? 1 : Hq / Hkv;  // query heads per list
    const index_t toks = idx.tokens == 1 ? Lq : 1;        // query tokens per list
    const index_t lists = B * idx.heads * idx.tokens;
    // Few long lists (decode: one per kv head) are cut into parts so every worker has one; the
    // parts' (output, LSE) are merged with ⊕ (attune::merge). opt.kv_splits forces the part count.
    index_t splits = opt.kv_splits;
    if (splits <= 0) {
        const index_t workers = exec.workers();
        splits = 1;
        if (lists < 2 * workers && idx.count >= 512) splits = (2 * workers + lists - 1) / lists;
        if (splits > idx.count / 256) splits = idx.count / 256;
    }
    if (splits > idx.count) splits = idx.count;
    if (splits < 1) splits = 1;
    const index_t part = (idx.count + splits - 1) / splits;
    const index_t rows = per * toks;
    thread_local std::vector<float> workspace;  // [lists][splits]: rows × dv outputs, then rows LSEs
    if (splits > 1) {
        const index_t n = attune::detail::checked_product("gather_attention: split workspace", lists, splits, rows, dv + 1);
        if (static_cast<std::size_t>(n) > workspace.size()) attune::detail::checked_assign(workspace, n, 0.0f, "gather_attention: split workspace");
    }
    float* const ws = workspace.data();  // (a thread_local named in the lambda would be each worker's own)
    auto part_out = [&](index_t list, index_t sp) {
        return tensor_view<float>(ws + (list * splits + sp) * rows * (dv + 1), {1, per, toks, dv}, {0, toks * dv, dv});
    };
    auto part_lse = [&](index_t list, index_t sp) {
        return lse_view(ws + (list * splits + sp) * rows * (dv + 1) + rows * dv, 1, per, toks);
    };
    ::attune::detail::parallel_for(exec, lists * splits, [&](index_t item) {
        const index_t it = item / splits, sp = item % splits;
        const index_t t = it % idx.tokens, hi = (it / idx.tokens) % idx.heads, b = it / (idx.tokens * idx.heads);
        const index_t hkv = idx.heads == Hq ? hi / (Hq / Hkv) : hi;
        const index_t h0 = hi * per, t0 = idx.tokens == 1 ? 0 : t;
        const index_t e0 = sp * part, e1 = e0 + part < idx.count ? e0 + part : idx.count;
        auto& s = detail::gather_scratch<TK, TV>::local();
        if (static_cast<index_t>(s.k.size()) < part * dk) attune::detail::checked_assign(s.k, part * dk, TK{}, "gather_attention: gathered keys");
        if (static_cast<index_t>(s.v.size()) < part * dv) attune::detail::checked_assign(s.v, part * dv, TV{}, "gather_attention: gathered values");
        const index_t* list = idx.row(b, hi, t);
        index_t m = 0;
        constexpr index_t ahead = 8;  // rows in flight: listed rows are scattered, the hardware prefetcher cannot guess them
        for (index_t e = e0; e < e1; ++e) {
            if (e + ahead < e1 && list[e + ahead] >= 0)
                detail::prefetch_rows(k.row(b, hkv, list[e + ahead]), dk, v.row(b, hkv, list[e + ahead]), dv);
            const index_t j = list[e];
            if (j < 0) continue;
            attune::detail::copy_row(k.row(b, hkv, j), s.k.data() + m * dk, dk);
            attune::detail::copy_row(v.row(b, hkv, j), s.v.data() + m * dv, dv);
            ++m;
        }
        const auto& qs = q.strides();
        const tensor_view<const std::remove_const_t<Q>> qv(q.row(b, h0, t0), {1, per, toks, dk}, {0, qs[1], qs[2]});
        const tensor_view<const TK> kv(s.k.data(), {1, 1, m, dk}, {0, 0, dk});
        const tensor_view<const TV> vv(s.v.data(), {1, 1, m, dv}, {0, 0, dv});
        options o;
        o.scale = opt.scale;
        // No mask: every gathered key is visible (bottom-right alignment plays no part).
        if (splits > 1) {
            o.lse = part_lse(it, sp);
            attention<Arch>(qv, kv, vv, part_out(it, sp), variant<>{}, o, serial_executor{});
            return;
        }
        const auto& os = out.strides();
        const tensor_view<O> ov(out.row(b, h0, t0), {1, per, toks, dv}, {0, os[1], os[2]});
        if (!opt.lse.empty()) {
            const auto& ls = opt.lse.strides();
            o.lse = tensor_view<float>(opt.lse.row(b, h0, t0), {1, per, toks, 1}, {0, ls[1], ls[2]});
        }
        attention<Arch>(qv, kv, vv, ov, variant<>{}, o, serial_executor{});
    });
    if (splits == 1) return;
    ::attune::detail::parallel_for(exec, lists, [&](index_t it) {
        const index_t t = it % idx.tokens, hi = (it / idx.tokens) % idx.heads, b = it / (idx.tokens * idx.heads);
        const index_t h0 = hi * per, t0 = idx.tokens == 1 ? 0 : t;
        for (index_t sp = 1; sp + 1 < splits; ++sp)
            ::attune::detail::merge_rows(part_out(it, 0), part_lse(it, 0), part_out(it, sp), part_lse(it, sp), part_out(it, 0), part_lse(it, 0));
        const auto& os = out.strides();
        const tensor_view<O> ov(out.row(b, h0, t0), {1, per, toks, dv}, {0, os[1], os[2]});
        tensor_view<float> lv;
        if (!opt.lse.empty()) {
            const auto& ls = opt.lse.strides();
            lv = tensor_view<float>(opt.lse.row(b, h0, t0), {1, per, toks, 1}, {0, ls[1], ls[2]});
        }
        ::attune::detail::merge_rows(part_out(it, 0), part_lse(it, 0), part_out(it, splits - 1), part_lse(it, splits - 1), ov, lv);
    });
}

}  // namespace sparse
}  // namespace attune
