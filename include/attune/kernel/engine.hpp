#pragma once
// The tile engine: every dense kernel is one loop over the key tiles of a work item — the query
// rows of all query heads of a kv group over one key range (kernel/item.hpp). Per tile:
//
//   mask.visit     classify the tile; skip it if no row sees a key  (kernel/mask_stage.hpp)
//   scores         S = τ·Q·Kᵀ for the tile's keys                     (kernel/score_stage.hpp)
//   modifier       the variant's score modifier                       (kernel/modifier_stage.hpp)
//   mask.apply     −inf where a row does not see a key
//   weigh          the family: scores → weights, row state            (kernel/weights_stage.hpp)
//   pv             acc += P·V                                         (kernel/pv_stage.hpp)
//
// and the item ends in the epilogue (kernel/epilogue.hpp). The stages are types, chosen once per
// item by the item's shape: many rows (prefill) or few (decode), the storage types and the CPU
// (AMX). A probe pass (kernel/probe_pass.hpp) runs the same loop but hands each masked score tile
// to an observer instead of weighing it, and reads no V.
#include <type_traits>

#include "attune/core/policy.hpp"
#include "attune/kernel/epilogue.hpp"
#include "attune/kernel/int8_score_stage.hpp"
#include "attune/kernel/item.hpp"
#include "attune/kernel/mask_stage.hpp"
#include "attune/kernel/modifier_stage.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/kernel/pv_stage.hpp"
#include "attune/kernel/q_pack.hpp"
#include "attune/kernel/rows.hpp"
#include "attune/kernel/score_stage.hpp"
#include "attune/kernel/weights_stage.hpp"
#include "attune/simd/amx.hpp"
#include "attune/simd/caps.hpp"
#include "attune/simd/pairs.hpp"

namespace attune::kernel {

// The forward pass: scores become weights and P·V. A probe pass instead hands each masked score
// tile to an observer and neither reads V nor writes the output.
struct no_probe {};
template <class Probe>
inline constexpr bool is_probe = !std::is_same_v<Probe, no_probe>;

// Keys [k_begin, k_end) through the stages. Prefill: many rows, so partial tiles are bounded per
// row (the triangles no row sees are skipped) and the next tile's K is prefetched during P·V.
template <class Arch, bool Prefill, class It, class Scores, class Modifier, class Mask, class PV, class Probe>
void tile_loop(It& it, Scores& scores, const Modifier& modifier, const Mask& mask, PV& pv, index_t k_begin, index_t k_end, Probe* probe) {
    constexpr index_t T = work_plan::kv_tile;
    for (index_t tile0 = k_begin; tile0 < k_end; tile0 += T) {
        const key_span t = mask.visit(it, tile0, T < k_end - tile0 ? T : k_end - tile0);
        if (t.nk == 0) continue;
        const tile_bounds bounds = Prefill ? mask.bounds(it, t) : tile_bounds{};
        scores.compute(it, t, bounds);
        modifier.apply(it, t);
        mask.apply(it, t);
        if constexpr (is_probe<Probe>) {
            probe->template tile<Arch>(it.S, t.n0, t.nk, t.cls == tile_class::full);
        } else {
            weigh<Arch>(it, t.nk);
            const index_t next0 = tile0 + T;
            pv.accumulate(it, t, bounds, next_tile{next0, Prefill && next0 < k_end ? (T < k_end - next0 ? T : k_end - next0) : 0});
        }
    }
}

// One item through a set of stages, from packing Q to the epilogue.
template <class Arch, bool Prefill, class It, class Scores, class PV, class Probe>
void run_stages(It& it, Scores scores, PV pv, index_t k_begin, index_t k_end, const partial_result* partial, Probe* probe) {
    using variant_t = std::decay_t<decltype(it.var)>;
    // Float Q feeds the fp32 score kernels, and a score modifier or sink that reads q.
    constexpr bool float_q = !std::is_same_v<Scores, amx_scores<Arch>> || !detail::is_none_v<typename variant_t::score_type> ||
                             !detail::is_none_v<typename variant_t::sink_type>;
    if constexpr (float_q) pack_q<Arch>(it);
    scores.begin(it);
    if constexpr (!is_probe<Probe>) {
        if (k_begin == 0) enter_sink(it);  // the range that starts at key 0 holds the sink
    }
    pv.begin(it);
    const modifier_stage<Arch, typename variant_t::score_type> modifier(it.var.score(), it);
    const mask_stage<Arch, std::decay_t<decltype(it.var.mask())>> mask(it.var.mask(), it);
    if constexpr (is_probe<Probe>) probe->template begin<Arch>(it.p, it.b, it.R, it.rows, it.rp);
    tile_loop<Arch, Prefill>(it, scores, modifier, mask, pv, k_begin, k_end, probe);
    scores.end(it);
    if constexpr (is_probe<Probe>) {
        probe->end();
    } else {
        pv.end(it);
        finish<Arch>(it, partial);
    }
}

// Many rows: the broadcast GEMM, or the tile unit for bf16 Q and K where the CPU grants it (and for
// P·V too when V and the output are bf16); with options::int8_qk, int8 scores (a probe keeps exact ones).
template <class Arch, class It, class Probe>
void run_prefill(It& it, index_t k_begin, index_t k_end, const partial_result* partial, Probe* probe) {
    using P = std::decay_t<decltype(it.p)>;
    using TQ = typename decltype(P::q)::value_type;
    using TK = typename It::kv_type::key_type;
    using TV = typename It::kv_type::value_type;
    using TO = typename decltype(P::out)::value_type;
    if constexpr (!is_probe<Probe>) {
        if (it.p.int8_qk) {  // options::int8_qk: int8 Q·Kᵀ (kernel/int8_score_stage.hpp); P·V as below
            if constexpr (simd::caps<Arch>::amx && std::is_same_v<TV, bf16> && std::is_same_v<TO, bf16>) {
                if (simd::amx_active())
                    return run_stages<Arch, true>(it, int8_scores<Arch>{}, amx_pv<Arch>{}, k_begin, k_end, partial, probe);
            }
            return run_stages<Arch, true>(it, int8_scores<Arch>{}, fp32_pv<Arch>{}, k_begin, k_end, partial, probe);
        }
    }
    if constexpr (simd::caps<Arch>::amx && std::is_same_v<TQ, bf16> && std::is_same_v<TK, bf16>) {
        if (simd::amx_active()) {
            if constexpr (std::is_same_v<TV, bf16> && std::is_same_v<TO, bf16>)
                return run_stages<Arch, true>(it, amx_scores<Arch>{}, amx_pv<Arch>{}, k_begin, k_end, partial, probe);
            else return run_stages<Arch, true>(it, amx_scores<Arch>{}, fp32_pv<Arch>{}, k_begin, k_end, partial, probe);
        }
    }
    run_stages<Arch, true>(it, broadcast_scores<Arch, !is_probe<Probe>>{}, fp32_pv<Arch>{}, k_begin, k_end, partial, probe);
}

// Few rows: dot products over K rows where they are; V streamed when its rows hold whole vectors.
// bf16 K or V on an arch that reads bf16 as pairs (simd/pairs.hpp): two ALU operations per 2·W
// elements instead of four.
template <class Arch, class It, class Probe>
void run_decode(It& it, index_t k_begin, index_t k_end, const partial_result* partial, Probe* probe) {
    constexpr bool k_pairs = simd::caps<Arch>::bf16_pairs && std::is_same_v<typename It::kv_type::key_type, bf16>;
    constexpr bool v_pairs = simd::caps<Arch>::bf16_pairs && std::is_same_v<typename It::kv_type::value_type, bf16>;
    const auto with_scores = [&](auto scores) {
        if (it.p.dv != it.dvp) return run_stages<Arch, false>(it, scores, fp32_pv<Arch>{}, k_begin, k_end, partial, probe);
        if constexpr (v_pairs) {
            if (simd::paired_span<Arch>(it.dvp) > 0)
                return run_stages<Arch, false>(it, scores, stream_pv<Arch, true>{}, k_begin, k_end, partial, probe);
        }
        run_stages<Arch, false>(it, scores, stream_pv<Arch, false>{}, k_begin, k_end, partial, probe);
    };
    if constexpr (k_pairs) {
        if (simd::paired_span<Arch>(it.p.dk) > 0) return with_scores(dot_scores<Arch, true>{});
    }
    with_scores(dot_scores<Arch, false>{});
}

// Keys [k_begin, k_end) of one query tile's rows; the sink enters the rows' state in the range
// that starts at key 0 (sink/sink.hpp). With `partial`, the rows end there, unnormalised, for ⊕.
template <class Arch, class Variant, class P, class Probe = no_probe>
void run_item_keys(const P& p, const Variant& var, const work_plan& plan, index_t b, index_t hkv, index_t qt, index_t k_begin,
                   index_t k_end, const partial_result* partial, Probe* probe = nullptr) {
    const index_t i0 = qt * plan.q_tile;
    const index_t nq = plan.q_tile < p.lq - i0 ? plan.q_tile : p.lq - i0;
    // The rows to compute: every (head, token) pair of the tile, or the router's active ones.
    const item_rows R = gather_rows(var.router(), p, b, hkv, i0, nq, row_scratch::local());
    if (!is_probe<Probe> && partial == nullptr) store_inactive_rows(var.router(), p, b, hkv, i0, nq);
    if (R.count == 0) return;  // every row switched off: no K/V read
    auto it = make_item<Arch>(p, var, b, hkv, R);
    if (it.few_rows) run_decode<Arch>(it, k_begin, k_end, partial, probe);
    else run_prefill<Arch>(it, k_begin, k_end, partial, probe);
}

// The keys of split `split` of the plan.
template <class Arch, class Variant, class P, class Probe = no_probe>
void run_item(const P& p, const Variant& var, const work_plan& plan, index_t b, index_t hkv, index_t qt, index_t split,
              const partial_result* partial, Probe* probe = nullptr) {
    const index_t k_begin = split * plan.split_len;
    const index_t k_end = plan.split_len == 0 ? 0 : (k_begin + plan.split_len < p.lk ? k_begin + plan.split_len : p.lk);
    run_item_keys<Arch>(p, var, plan, b, hkv, qt, k_begin, k_end, partial, probe);
}

}  // namespace attune::kernel
