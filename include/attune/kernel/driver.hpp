#pragma once
// Runs a validated problem: plans the work items, runs them on the executor and, when the keys
// were split, merges the partial states with ⊕ and finalises (the last split of a group to finish
// does its merge, inside the same parallel region). The split workspace is grow-only
// and per calling thread, so repeated decode steps allocate nothing.
#include "attune/exec/executor.hpp"
#include "attune/kernel/engine.hpp"
#include "attune/exec/region.hpp"

namespace attune::kernel {

template <class Arch, class Variant, class Exec, class P>
void run(const P& p, const Variant& var, const Exec& exec, index_t requested_splits) {
    using family = typename Variant::family_type;
    const work_plan plan = make_plan(p.batch, p.kv_heads, p.group, p.lq, p.lk, exec.workers(), requested_splits,
                                     detail::router_density(var.router()));
    const index_t groups = p.batch * p.kv_heads * plan.q_tiles;
    if (groups == 0) return;
    // Items of one kv head are consecutive (its K/V stay in cache from one item to the next), and
    // within a head the last query tiles come first: under a causal mask they see the most keys,
    // so the dynamic schedule starts long items early and ends on short ones.
    auto coords = [&](index_t g, index_t& b, index_t& hkv, index_t& qt) {
        qt = plan.q_tiles - 1 - g % plan.q_tiles;
        hkv = (g / plan.q_tiles) % p.kv_heads;
        b = g / (plan.q_tiles * p.kv_heads);
    };
    if (plan.splits == 1) {
        ::attune::detail::parallel_for(exec, groups, [&](index_t g) {
            index_t b, hkv, qt;
            coords(g, b, hkv, qt);
            run_item<Arch>(p, var, plan, b, hkv, qt, 0, nullptr);
        });
        return;
    }

    // Partial results: per (group item, split) rows_max × (m, l, acc[dv]). Softmax-like families
    // merge them with ⊕; families without row statistics (sigmoid) add them.
    const index_t per_split = plan.rows_max * (2 + p.dv);
    thread_local buffer workspace;
    thread_local basic_buffer<index_t> finished;
    float* ws = workspace.get(groups * plan.splits * per_split);
    index_t* done = finished.get(groups);
    for (index_t g = 0; g < groups; ++g) done[g] = 0;
    auto slot = [&](index_t g, index_t sp) {
        float* base = ws + (g * plan.splits + sp) * per_split;
        return partial_result{base, base + plan.rows_max, base + 2 * plan.rows_max};
    };
    // The merge of a group, run by whichever item of it finishes last: no second parallel region
    // (a fork/join is a large part of a short decode step at 16 threads).
    auto merge_group = [&](index_t g) {
        index_t b, hkv, qt;
        coords(g, b, hkv, qt);
        const index_t i0 = qt * plan.q_tile;
        const index_t nq = plan.q_tile < p.lq - i0 ? plan.q_tile : p.lq - i0;
        // The same rows the items computed (every pair, or the router's active ones).
        const item_rows R = gather_rows(var.router(), p, b, hkv, i0, nq, row_scratch::local());
        store_inactive_rows(var.router(), p, b, hkv, i0, nq);
        const partial_result first = slot(g, 0);
        for (index_t r = 0; r < R.count; ++r) {
            row_state st{first.m[r], first.l[r]};
            float* acc = first.acc + r * p.dv;
            for (index_t sp = 1; sp < plan.splits; ++sp) {
                const partial_result other = slot(g, sp);
                if constexpr (family::row_statistics) {
                    merge_into(st, acc, row_state{other.m[r], other.l[r]}, other.acc + r * p.dv, p.dv);
                } else {
                    for (index_t d = 0; d < p.dv; ++d) acc[d] += other.acc[r * p.dv + d];
                }
            }
            store_row<Arch, family>(p, b, R.head[r], R.token[r], acc, st, R.gate ? R.gate[r] : 1.0f);
        }
    };
    // Splits exist only when there are few groups: every item then covers an equal key range.
    ::attune::detail::parallel_for_uniform(exec, groups * plan.splits, [&](index_t item) {
        const index_t g = item / plan.splits, sp = item % plan.splits;
        index_t b, hkv, qt;
        coords(g, b, hkv, qt);
        const partial_result out = slot(g, sp);
        run_item<Arch>(p, var, plan, b, hkv, qt, sp, &out);
        // acq_rel: the last item sees every other split's partial writes of this group.
        if (__atomic_add_fetch(done + g, index_t(1), __ATOMIC_ACQ_REL) == plan.splits) merge_group(g);
    });
}

}  // namespace attune::kernel
