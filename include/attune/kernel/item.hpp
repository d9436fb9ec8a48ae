#pragma once
// One work item of the tile engine: the query rows of all query heads of a kv group over one query
// tile (kernel/rows.hpp), the K/V they read, their running state and the per-thread buffers they
// work in. The stages (kernel/*_stage.hpp) read and write the item; the main loop
// (kernel/engine.hpp) only passes it along.
#include <utility>

#include "attune/core/index_context.hpp"
#include "attune/core/row_state.hpp"
#include "attune/core/types.hpp"
#include "attune/kernel/kv_source.hpp"
#include "attune/kernel/problem.hpp"
#include "attune/kernel/rows.hpp"
#include "attune/kernel/scratch.hpp"
#include "attune/simd/vec.hpp"

namespace attune::kernel {

template <class P, class Variant>
struct item {
    using kv_type = decltype(kv_source_of(std::declval<const P&>()));
    const P& p;
    const Variant& var;
    kv_type kv;
    index_t b, hkv;
    item_rows R;
    index_t rows = 0;  // rows to compute (R.count)
    index_t rp = 0;    // rows padded to the vector width
    index_t dvp = 0;   // dv padded to the vector width
    // Decode-shaped: so few rows that Q is kept as rows [r][dk] and scores are dot products.
    bool few_rows = false;
    item_scratch& s;
    float* qt = nullptr;                                 // float Q, scaled, padding rows zero: [dk][rp] (many rows) or [rp][dk] (few)
    float* S = nullptr;                                  // scores, then weights: [kv_tile][rp]
    float* acc = nullptr;                                // output accumulators [rp][dvp]; rows past `rows` are room for whole AMX tiles
    float *m = nullptr, *l = nullptr, *alpha = nullptr;  // row state (family/softmax.hpp) [rp]
    float* intervals = nullptr;                          // the mask stage's visible key intervals, 4 × [rp]
    index_t q_first = 0, q_span = 0;                     // the rows' positions span [q_first, q_first + q_span)

    index_t q_pos(index_t r) const noexcept { return p.q_pos0() + R.token[r]; }
    index_context row(index_t r) const noexcept { return {b, R.head[r], hkv, q_pos(r), 0}; }
    // Row r of the float Q, and the distance between its elements.
    float* q_row(index_t r) const noexcept { return few_rows ? qt + r * p.dk : qt + r; }
    index_t q_dim_step() const noexcept { return few_rows ? 1 : rp; }
};

// The item of rows R (at least one) with its buffers taken from this thread's scratch; the row
// state starts empty (m = −inf, l = 0, acc = 0).
template <class Arch, class P, class Variant>
item<P, Variant> make_item(const P& p, const Variant& var, index_t b, index_t hkv, const item_rows& R) {
    constexpr index_t W = static_cast<index_t>(simd::width<Arch>);
    item<P, Variant> it{p, var, kv_source_of(p), b, hkv, R, R.count, round_up(R.count, W), round_up(p.dv, W), false, item_scratch::local()};
    it.few_rows = it.rows * 2 <= W;
    it.qt = it.s.qt.get(p.dk * it.rp);
    it.S = it.s.scores.get(work_plan::kv_tile * it.rp);
    it.acc = it.s.acc.get(it.rp * it.dvp);
    float* st = it.s.state.get(7 * it.rp);
    it.m = st, it.l = st + it.rp, it.alpha = st + 2 * it.rp, it.intervals = st + 3 * it.rp;
    it.q_first = R.pos_min;
    it.q_span = R.pos_max - R.pos_min + 1;
    for (index_t r = 0; r < it.rp; ++r) it.m[r] = neg_inf, it.l[r] = 0.0f;
    for (index_t i = 0; i < it.rp * it.dvp; ++i) it.acc[i] = 0.0f;
    return it;
}

}  // namespace attune::kernel
