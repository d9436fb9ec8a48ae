#pragma once
// Runs a validated problem: plans the work items, runs them on the executor and, when the keys
// were split, merges the partial states with ⊕ and finalises (the last split of a group to finish
// does its merge, inside the same parallel region). Inside an item, a key range longer than
// work_plan::max_block_keys runs as blocks whose states merge pairwise, so long rows keep their
// precision. The workspaces are grow-only and per thread, so repeated decode steps allocate nothing.
#include <algorithm>

#include "attune/core/checked.hpp"
#include "attune/exec/executor.hpp"
#include "attune/exec/region.hpp"
#include "attune/kernel/engine.hpp"
#include "attune/kernel/workspace.hpp"
#include "attune/simd/dispatch.hpp"

namespace attune::kernel {

// a ⊕= b over `rows` partial rows of dv values: ⊕ for families with row statistics, + otherwise
// (and + of the weight sums l for row_sum families).
template <class Family>
inline void merge_partial(const partial_result& a, const partial_result& b, index_t rows, index_t dv) {
    for (index_t r = 0; r < rows; ++r) {
        float* acc = a.acc + r * dv;
        const float* other = b.acc + r * dv;
        if constexpr (Family::row_statistics) {
            row_state st{a.m[r], a.l[r]};
            merge_into(st, acc, row_state{b.m[r], b.l[r]}, other, dv);
            a.m[r] = st.m;
            a.l[r] = st.l;
        } else {
            for (index_t d = 0; d < dv; ++d) acc[d] += other[d];
            if constexpr (::attune::detail::row_sum_v<Family>) a.l[r] += b.l[r];  // the weight sums add too
        }
    }
}

// Partial results of rows_max rows laid out as (m, l, acc): `count` slots from one buffer.
struct partial_slots {
    float* base;
    index_t rows_max, dv;
    index_t size() const { return rows_max * (2 + dv); }
    partial_result operator[](index_t i) const {
        float* s = base + i * size();
        return partial_result{s, s + rows_max, s + 2 * rows_max};
    }
};

// Keys [k_begin, k_end) of an item into `out`, as blocks of plan.block_len keys whose states merge
// as a binary counter does (a pairwise tree): the state of 2^j blocks merges only with another of
// 2^j blocks, so each sum's rounding grows with the log of the block count.
template <class Arch, class Variant, class P>
void run_blocks(const P& p, const Variant& var, const work_plan& plan, index_t b, index_t hkv, index_t qt, index_t k_begin, index_t k_end,
                const partial_result& out) {
    using family = typename Variant::family_type;
    const index_t blocks = ceil_div(k_end - k_begin, plan.block_len);
    index_t levels = 1;  // 2^levels > blocks: the counter never carries out of its slots
    while ((index_t(1) << levels) <= blocks) ++levels;
    buffer& pool = worker_local().blocks;
    const partial_slots slot{pool.get(detail::checked_product("attention block workspace", levels + 1, plan.rows_max, 2 + p.dv)),
                             plan.rows_max, p.dv};
    const auto copy = [&](const partial_result& from, const partial_result& to) {
        if (from.m != to.m) std::copy(from.m, from.m + slot.size(), to.m);
    };
    const index_t i0 = qt * plan.q_tile, nq = plan.q_tile < p.lq - i0 ? plan.q_tile : p.lq - i0;
    const index_t rows = gather_rows(var.router(), p, b, hkv, i0, nq, row_scratch::local()).count;
    // slot[j] holds the state of 2^j consecutive blocks while bit j of `held` is set; slot[levels]
    // receives each new block.
    index_t held = 0;
    for (index_t i = 0; i < blocks; ++i) {
        const index_t lo = k_begin + i * plan.block_len, hi = lo + plan.block_len < k_end ? lo + plan.block_len : k_end;
        partial_result cur = slot[levels];
        run_item_keys<Arch>(p, var, plan, b, hkv, qt, lo, hi, &cur);
        index_t j = 0;
        for (; held & (index_t(1) << j); ++j) {  // carry: merge states of equal size
            merge_partial<family>(slot[j], cur, rows, p.dv);
            cur = slot[j];
            held &= ~(index_t(1) << j);
        }
        copy(cur, slot[j]);
        held |= index_t(1) << j;
    }
    // The states left (one per set bit), smallest first, into out.
    bool any = false;
    for (index_t j = 0; j < levels; ++j) {
        if (!(held & (index_t(1) << j))) continue;
        if (any) merge_partial<family>(slot[j], out, rows, p.dv);
        copy(slot[j], out);
        any = true;
    }
}

// One problem's work: its plan and its group items (batch, kv head, query tile) over the batches
// [b_first, b_first + b_count), each run whole or as splits merged with ⊕. A dense call is one of
// these over every batch; a ragged or paged batch (kernel/batch_driver.hpp) is one per sequence.
template <class Arch, class P, class Variant>
struct planned {
    using family = typename Variant::family_type;
    const P& p;
    const Variant& var;
    work_plan plan;
    index_t b_first = 0, b_count = 0;

    index_t groups() const { return b_count * p.kv_heads * plan.q_tiles; }
    bool blocked() const { return plan.block_len < plan.split_len; }
    // Items of one kv head are consecutive (its K/V stay in cache from one item to the next), and
    // within a head the last query tiles come first: under a causal mask they see the most keys,
    // so a dynamic schedule starts long items early and ends on short ones.
    void coords(index_t g, index_t& b, index_t& hkv, index_t& qt) const {
        qt = plan.q_tiles - 1 - g % plan.q_tiles;
        hkv = (g / plan.q_tiles) % p.kv_heads;
        b = b_first + g / (plan.q_tiles * p.kv_heads);
    }
    // The rows of group g (every pair, or the router's active ones).
    item_rows rows(index_t g, index_t& i0, index_t& nq) const {
        index_t b, hkv, qt;
        coords(g, b, hkv, qt);
        i0 = qt * plan.q_tile;
        nq = plan.q_tile < p.lq - i0 ? plan.q_tile : p.lq - i0;
        return gather_rows(var.router(), p, b, hkv, i0, nq, row_scratch::local());
    }
    // Writes group g's rows from their merged partial state.
    void finish_group(index_t g, const partial_result& st) const {
        index_t b, hkv, qt, i0, nq;
        coords(g, b, hkv, qt);
        const item_rows R = rows(g, i0, nq);
        store_inactive_rows(var.router(), p, b, hkv, i0, nq);
        for (index_t r = 0; r < R.count; ++r)
            store_row<Arch, family>(p, b, R.head[r], R.token[r], st.acc + r * p.dv, row_state{st.m[r], st.l[r]}, R.gate ? R.gate[r] : 1.0f);
    }
    // Split sp of group g into `out`: one running state, or blocks merged pairwise.
    void run_split(index_t g, index_t sp, const partial_result& out) const {
        index_t b, hkv, qt;
        coords(g, b, hkv, qt);
        if (!blocked()) return run_item<Arch>(p, var, plan, b, hkv, qt, sp, &out);
        const index_t k_begin = sp * plan.split_len;
        const index_t k_end = k_begin + plan.split_len < p.lk ? k_begin + plan.split_len : p.lk;
        run_blocks<Arch>(p, var, plan, b, hkv, qt, k_begin, k_end, out);
    }
    // Group g whole (a plan without splits), straight into the output.
    void run_whole(index_t g) const {
        if (!blocked()) {
            index_t b, hkv, qt;
            coords(g, b, hkv, qt);
            return run_item<Arch>(p, var, plan, b, hkv, qt, 0, nullptr);
        }
        const partial_slots st{worker_local().whole.get(plan.rows_max * (2 + p.dv)), plan.rows_max, p.dv};
        run_split(g, 0, st[0]);
        finish_group(g, st[0]);
    }
    // ⊕ of group g's splits, held in slots [first, first + plan.splits), as a balanced tree (slot
    // sp absorbs sp + step for step = 1, 2, 4, …), then its rows written.
    void merge_group(index_t g, const partial_slots& slots, index_t first) const {
        index_t i0, nq;
        const index_t n = rows(g, i0, nq).count;
        for (index_t step = 1; step < plan.splits; step *= 2)
            for (index_t sp = 0; sp + step < plan.splits; sp += 2 * step)
                merge_partial<family>(slots[first + sp], slots[first + sp + step], n, p.dv);
        finish_group(g, slots[first]);
    }
};

template <class Arch, class Variant, class Exec, class P>
void run(const P& p, const Variant& var, const Exec& exec, index_t requested_splits) {
    // A wider instantiation of this call compiled into the program (simd/dispatch.hpp) runs instead.
    using signature = void(const P&, const Variant&, const Exec&, index_t);
    if (signature* wider = dispatch::route<signature, Arch, &run<Arch, Variant, Exec, P>>()) return wider(p, var, exec, requested_splits);
    const planned<Arch, P, Variant> work{
        p, var, make_plan(p.batch, p.kv_heads, p.group, p.lq, p.lk, exec.workers(), requested_splits, detail::router_density(var.router())),
        0, p.batch};
    const work_plan& plan = work.plan;
    const index_t groups = work.groups();
    if (groups == 0) return;
    if (plan.splits == 1) {
        ::attune::detail::parallel_for(exec, groups, [&](index_t g) {
            const item_level level;
            const worker_lease lease(p.ws);
            work.run_whole(g);
        });
        return;
    }

    // Partial results: per (group item, split) rows_max × (m, l, acc[dv]), merged by the last
    // split of the group to finish: no second parallel region (a fork/join is a large part of a
    // short decode step at 16 threads).
    const call_lease call(p.ws);
    const partial_slots slots{
        call->partials.get(detail::checked_product("attention split workspace", groups, plan.splits, plan.rows_max, 2 + p.dv)),
        plan.rows_max, p.dv};
    index_t* done = call->finished.get(groups);
    for (index_t g = 0; g < groups; ++g) done[g] = 0;
    // Splits exist only when there are few groups: items_per_worker a worker, scheduled as they
    // come, so that a slow worker holds up the call by one item at most.
    ::attune::detail::parallel_for(exec, groups * plan.splits, [&](index_t item) {
        const item_level level;
        const worker_lease lease(p.ws);
        const index_t g = item / plan.splits, sp = item % plan.splits;
        work.run_split(g, sp, slots[item]);
        // acq_rel: the last item sees every other split's partial writes of this group.
        if (__atomic_add_fetch(done + g, index_t(1), __ATOMIC_ACQ_REL) == plan.splits) work.merge_group(g, slots, g * plan.splits);
    });
}

}  // namespace attune::kernel
