#pragma once
// Attention maps: the weights P of chosen rows and heads, and edits of P, for the diffusion and
// interpretability uses of attention maps (cross-attention maps of text tokens, Hertz et al.,
// "Prompt-to-Prompt Image Editing with Cross Attention Control", 2022; attention steering,
// Zhang et al., "Tell Your Model Where to Attend" (PASTA), 2023; attention as explanation).
//
//   map_attention(q, k, lse, map, var, opt)   writes p_ij = exp(s_ij − LSE_i) of the chosen rows i
//       of the chosen heads (or their mean over the heads) into `map`; s_ij the forward pass's
//       masked, modified score, LSE_i its log-sum-exp (options::lse), so a sink's mass is in the
//       LSE and a row sums to 1 − p_sink. Rows with nothing visible are zeros.
//   blend_map(out, v, m, alpha, heads)        P' = (1 − α)·P + α·M on the chosen heads, as
//       out' = (1 − α)·out + α·(M·V): the forward pass's out is edited in place, P is never formed.
//   key_log_bias (score/key_log_bias.hpp)     scales chosen keys' weights and renormalises.
//
// Cost of map_attention: a second pass over QKᵀ for the chosen heads, on the query tiles that hold
// a chosen row (the probe pass's, kernel/map_pass.hpp), plus the map itself; no L×L buffer.
#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/core/error.hpp"
#include "attune/core/overlap.hpp"
#include "attune/core/view.hpp"
#include "attune/exec/executor.hpp"
#include "attune/exec/region.hpp"
#include "attune/kernel/map_pass.hpp"
#include "attune/probe/attention_probe.hpp"
#include "attune/router/head_subset.hpp"
#include "attune/simd/arch.hpp"
#include "attune/simd/vec.hpp"
#include "attune/variant.hpp"

namespace attune {

/// What map_attention writes for each chosen row.
enum class map_reduce {
    per_head,  ///< one map per chosen head: map [batch][heads.size()][rows.size()][k_tokens]
    mean       ///< the mean over the chosen heads: map [batch][1][rows.size()][k_tokens]
};

/// Options of map_attention.
struct map_options {
    float scale = 0.0f;                        ///< the forward pass's τ; 0 means 1/√Dk
    std::vector<index_t> heads;                ///< query heads, each at most once, in the map's order; empty: all, in order
    std::vector<index_t> rows;                 ///< query tokens, each at most once, in the map's order; empty: all, in order
    map_reduce reduce = map_reduce::per_head;  ///< per head, or the mean over the chosen heads
};

namespace detail {

// A list of query tokens used as map rows: each in [0, q_tokens), none twice (the map's row of a
// token is unique); any order, kept as the map's row order.
inline void require_row_set(const std::vector<index_t>& rows, index_t q_tokens) {
    for (index_t t : rows) require(t >= 0 && t < q_tokens, "map_options::rows: token ", t, " is outside [0, ", q_tokens, ")");
    std::vector<index_t> sorted(rows);
    std::sort(sorted.begin(), sorted.end());
    const auto twice = std::adjacent_find(sorted.begin(), sorted.end());
    require(twice == sorted.end(), "map_options::rows: token ", twice == sorted.end() ? index_t(0) : *twice, " is listed twice");
}

// 0, 1, …, n − 1 when `chosen` is empty, else `chosen`; and its slot table [n] (−1: not chosen).
inline std::vector<index_t> slots_of(const std::vector<index_t>& chosen, index_t n, std::vector<index_t>& list, const char* what) {
    list.clear();
    if (chosen.empty()) {
        checked_reserve(list, n, what);
        for (index_t i = 0; i < n; ++i) list.push_back(i);
    } else {
        list = chosen;
    }
    std::vector<index_t> slot;
    checked_assign(slot, n, index_t(-1), what);
    for (std::size_t s = 0; s < list.size(); ++s) slot[static_cast<std::size_t>(list[s])] = static_cast<index_t>(s);
    return slot;
}

}  // namespace detail

/// Writes the attention weights of chosen rows and heads (or their mean over the heads) into
/// `map`, from q, k, the variant and the LSE of the forward pass (attention() with options::lse):
/// map [batch][heads or 1][rows][k_tokens] (see map_reduce), zeros where a key is hidden. Heads
/// and rows are sets in any order (the map keeps the given order); a head or row out of range or
/// listed twice, a map of another shape, or one overlapping q, k or lse is an attune::error, and
/// nothing is written then.
template <class Arch = default_arch, class Q, class K, class Var = variant<>, class Exec = default_executor>
void map_attention(const Q& q_in, const K& k_in, tensor_view<const float> lse, tensor_view<float> map, const Var& var_in = {},
                   const map_options& opt = {}, const Exec& exec = {}) {
    using TQ = std::remove_const_t<typename Q::element_type>;
    using TK = std::remove_const_t<typename K::element_type>;
    const auto var0 = to_variant(var_in);
    using V0 = std::decay_t<decltype(var0)>;
    static_assert(V0::family_type::has_lse, "attune::map_attention: the map needs a family with an LSE (softmax)");
    const tensor_view<const TQ> q(q_in);
    const tensor_view<const TK> k(k_in);
    probe_options po;
    po.scale = opt.scale, po.heads = opt.heads;
    detail::check_probe(q, k, lse, po, "map_attention", "map_options::heads: head");  // the probe's checks
    detail::require_row_set(opt.rows, q.tokens());
    std::vector<index_t> heads, rows;
    const std::vector<index_t> head_slot = detail::slots_of(opt.heads, q.heads(), heads, "map_attention: q heads");
    std::vector<index_t> row_slot = detail::slots_of(opt.rows, q.tokens(), rows, "map_attention: q tokens");
    const bool mean = opt.reduce == map_reduce::mean;
    detail::require(mean || opt.reduce == map_reduce::per_head, "map_options::reduce is not a map_reduce");
    const index_t map_heads = mean ? 1 : static_cast<index_t>(heads.size());
    detail::require(map.data() != nullptr || map.size() == 0, "map_attention: map has null data");
    detail::require(map.batch() == q.batch() && map.heads() == map_heads && map.tokens() == static_cast<index_t>(rows.size()) &&
                        map.dim() == k.tokens(),
                    "map_attention: map must be [", q.batch(), ", ", map_heads, ", ", rows.size(), ", ", k.tokens(), "] (batch, ",
                    mean ? "1 (the mean), " : "chosen heads, ", "chosen rows, keys), got [", map.batch(), ", ", map.heads(), ", ",
                    map.tokens(), ", ", map.dim(), "]");
    detail::require_disjoint_output(map, "map", detail::named(q, "q"), detail::named(k, "k"), detail::named(lse, "lse"));
    const auto var = with_router(var0, head_subset<typename V0::router_type>(var0.router(), q.heads(), heads));
    const kernel::problem<TQ, TK, TK, float> p = detail::probe_problem(q, k, po);
    detail::validate_policy(var.mask(), p);
    detail::validate_policy(var.score(), p);
    detail::validate_policy(var.router(), p);
    // Rows chosen before each token: a query tile without one is skipped.
    std::vector<index_t> rows_before;
    detail::checked_assign(rows_before, q.tokens() + 1, index_t(0), "map_attention: q tokens");
    for (index_t t = 0; t < q.tokens(); ++t)
        rows_before[static_cast<std::size_t>(t + 1)] =
            rows_before[static_cast<std::size_t>(t)] + (row_slot[static_cast<std::size_t>(t)] >= 0);

    // Validated: zero the map, then add the visited keys' weights.
    for (index_t b = 0; b < map.batch(); ++b)
        for (index_t h = 0; h < map.heads(); ++h)
            for (index_t r = 0; r < map.tokens(); ++r) std::fill(map.row(b, h, r), map.row(b, h, r) + map.dim(), 0.0f);
    if (p.lq == 0 || p.lk == 0 || heads.empty() || rows.empty()) return;
    std::vector<index_t> slot = head_slot;
    if (mean)
        for (index_t& s : slot) s = s >= 0 ? 0 : -1;
    kernel::map_outputs out;
    out.data = map.data();
    out.batch_stride = map.strides()[0], out.head_stride = map.strides()[1], out.row_stride = map.strides()[2];
    out.head_slot = slot.data(), out.row_slot = row_slot.data(), out.rows_before = rows_before.data();
    out.weight = mean ? 1.0f / static_cast<float>(heads.size()) : 1.0f;
    const kernel::work_plan plan =
        kernel::make_plan(p.batch, p.kv_heads, p.group, p.lq, p.lk, exec.workers(), 0, detail::router_density(var.router()));
    kernel::run_map<Arch>(p, var, exec, plan, lse, out);
}

namespace detail {

// o ← (1 − α)·o + α·Σ_j m[j]·vf[j][·] for one row: vf is V's rows as floats [lk][dv]; four column
// vectors at a time, their sums kept in registers across the keys.
template <class Arch>
void blend_row(const float* m, const float* vf, index_t lk, index_t dv, float alpha, float* o) {
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    constexpr int C = 4;
    const simd::vec<Arch> keep = simd::broadcast<Arch>(1.0f - alpha), take = simd::broadcast<Arch>(alpha);
    index_t d = 0;
    for (; d + C * W <= dv; d += C * W) {
        simd::vec<Arch> acc[C];
        for (int c = 0; c < C; ++c) acc[c] = simd::broadcast<Arch>(0.0f);
        for (index_t j = 0; j < lk; ++j) {
            const simd::vec<Arch> w = simd::broadcast<Arch>(m[j]);
            for (int c = 0; c < C; ++c) acc[c] = simd::fma(w, simd::load<Arch>(vf + j * dv + d + c * W), acc[c]);
        }
        for (int c = 0; c < C; ++c) {
            float* oc = o + d + c * W;
            simd::store<Arch>(oc, simd::fma(keep, simd::load<Arch>(oc), take * acc[c]));
        }
    }
    for (; d + W <= dv; d += W) {
        simd::vec<Arch> acc = simd::broadcast<Arch>(0.0f);
        for (index_t j = 0; j < lk; ++j) acc = simd::fma(simd::broadcast<Arch>(m[j]), simd::load<Arch>(vf + j * dv + d), acc);
        simd::store<Arch>(o + d, simd::fma(keep, simd::load<Arch>(o + d), take * acc));
    }
    for (; d < dv; ++d) {
        float acc = 0.0f;
        for (index_t j = 0; j < lk; ++j) acc += m[j] * vf[j * dv + d];
        o[d] = (1.0f - alpha) * o[d] + alpha * acc;
    }
}

}  // namespace detail

/// Blends a given map M into the weights of chosen heads, P' = (1 − α)·P + α·M, without forming P:
/// out' = (1 − α)·out + α·(M·V) in place, out the forward pass's output [batch][q_heads][q_tokens][dv]
/// (float) and v its values [batch][kv_heads][k_tokens][dv]. m is [batch or 1][heads.size() or 1]
/// [q_tokens][k_tokens] (a size 1 broadcasts), used as given: its rows need not sum to 1 (then
/// neither do P′'s: (1 − α) + α·Σ_j m_ij) and masks do not apply to it. α ∈ [0, 1] (a convex blend;
/// 1 replaces P by M, as Prompt-to-Prompt's map injection does). heads: query heads, each at most
/// once; empty: all. A bad α, head, shape, a non-finite m, or out overlapping v or m is an
/// attune::error, and out is unchanged then.
template <class Arch = default_arch, class VV, class Exec = default_executor>
void blend_map(tensor_view<float> out, const VV& v_in, tensor_view<const float> m, float alpha, const std::vector<index_t>& heads_in = {},
               const Exec& exec = {}) {
    using detail::require;
    using TV = std::remove_const_t<typename VV::element_type>;
    const tensor_view<const TV> v(v_in);
    require(out.data() != nullptr || out.size() == 0, "blend_map: out has null data");
    require(v.data() != nullptr || v.size() == 0, "blend_map: v has null data");
    require(m.data() != nullptr || m.size() == 0, "blend_map: m has null data");
    require(std::isfinite(alpha) && alpha >= 0.0f && alpha <= 1.0f, "blend_map: alpha must be in [0, 1], got ", alpha);
    require(out.heads() > 0 && v.heads() > 0 && out.heads() % v.heads() == 0, "blend_map: out heads (", out.heads(),
            ") must be a multiple of v heads (", v.heads(), ")");
    require(v.batch() == out.batch() && v.dim() == out.dim(), "blend_map: v must be [", out.batch(), ", kv heads, k tokens, ", out.dim(),
            "], got [", v.batch(), ", ", v.heads(), ", ", v.tokens(), ", ", v.dim(), "]");
    detail::require_head_set(heads_in, out.heads(), "blend_map: head");
    std::vector<index_t> heads;
    detail::slots_of(heads_in, out.heads(), heads, "blend_map: heads");
    const index_t n = static_cast<index_t>(heads.size());
    require((m.batch() == out.batch() || m.batch() == 1) && (m.heads() == n || m.heads() == 1) && m.tokens() == out.tokens() &&
                m.dim() == v.tokens(),
            "blend_map: m must be [", out.batch(), " or 1, ", n, " or 1, ", out.tokens(), ", ", v.tokens(), "], got [", m.batch(), ", ",
            m.heads(), ", ", m.tokens(), ", ", m.dim(), "]");
    detail::require_disjoint_output(out, "out", detail::named(v, "v"), detail::named(m, "m"));
    for (index_t b = 0; b < m.batch(); ++b)
        for (index_t h = 0; h < m.heads(); ++h)
            for (index_t i = 0; i < m.tokens(); ++i)
                for (index_t j = 0; j < m.dim(); ++j)
                    require(std::isfinite(m(b, h, i, j)), "blend_map: m[", b, ", ", h, ", ", i, ", ", j, "] must be finite, got ",
                            m(b, h, i, j));
    const index_t group = out.heads() / v.heads(), dv = out.dim(), lk = v.tokens();
    if (out.size() == 0 || n == 0) return;
    // One item: a block of query rows of one (batch, head); V's rows of the head widened to float
    // once per item, then M·V a column block at a time with the sums in registers (M's weights
    // broadcast, V's rows as vectors).
    constexpr index_t row_block = 32;
    const index_t blocks = (out.tokens() + row_block - 1) / row_block;
    const index_t items = detail::checked_product("blend_map: batch × heads × q row blocks", out.batch(), n, blocks);
    detail::checked_product("blend_map: k tokens × dv", lk, dv);
    detail::parallel_for(exec, items, [&](index_t it) {
        const index_t blk = it % blocks, s = (it / blocks) % n, b = it / (blocks * n);
        const index_t h = heads[static_cast<std::size_t>(s)];
        thread_local std::vector<float> vf;
        vf.resize(static_cast<std::size_t>(lk * dv));
        for (index_t j = 0; j < lk; ++j) simd::convert_row<Arch>(v.row(b, h / group, j), vf.data() + j * dv, dv);
        const index_t i_end = std::min(out.tokens(), (blk + 1) * row_block);
        for (index_t i = blk * row_block; i < i_end; ++i)
            detail::blend_row<Arch>(m.row(m.batch() == 1 ? 0 : b, m.heads() == 1 ? 0 : s, i), vf.data(), lk, dv, alpha, out.row(b, h, i));
    });
}

}  // namespace attune
