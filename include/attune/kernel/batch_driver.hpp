#pragma once
// Runs a batch of problems — the sequences of a ragged or paged batch, each a problem of its own
// lengths — as one parallel region: one plan balances the work of long and short sequences over
// the executor's workers. Every (sequence, kv head, query tile) group is an item; a group much
// longer than a worker's share (a long decode row) is cut into key splits merged with ⊕ by the
// last split to finish, as in a dense call (kernel/driver.hpp). Items run longest first, so the
// dynamic schedule ends on short ones.
#include <algorithm>
#include <cmath>
#include <vector>

#include "attune/core/checked.hpp"
#include "attune/exec/region.hpp"
#include "attune/kernel/driver.hpp"

namespace attune::kernel {

// One item of a batch: split `split` of group `group` of sequence `seq`, its estimated cost, and
// whether its rows are many enough that it is bound by arithmetic rather than by reading K/V.
struct batch_item {
    index_t seq, group, split;
    double cost;
    bool compute_bound;
};

// The order the dynamic schedule hands items out: each kind longest first, and the two kinds
// interleaved in proportion to their total costs, so that prefill chunks (arithmetic) run beside
// decode rows (memory reads) throughout instead of after them (the overlap of POD-Attention,
// Kamath et al. 2024, on the CPU's cores).
inline void order_items(std::vector<batch_item>& items) {
    const auto longer = [](const batch_item& a, const batch_item& b) { return a.cost > b.cost; };
    std::stable_sort(items.begin(), items.end(), longer);
    const auto split = std::stable_partition(items.begin(), items.end(), [](const batch_item& i) { return i.compute_bound; });
    if (split == items.begin() || split == items.end()) return;
    double total[2] = {0, 0}, taken[2] = {0, 0};
    for (const batch_item& i : items) total[i.compute_bound ? 0 : 1] += i.cost;
    std::vector<batch_item> merged;
    merged.reserve(items.size());
    auto a = items.begin(), b = split;
    while (a != split || b != items.end()) {
        const bool take_a = b == items.end() || (a != split && taken[0] / total[0] <= taken[1] / total[1]);
        const batch_item& next = take_a ? *a++ : *b++;
        taken[take_a ? 0 : 1] += next.cost;
        merged.push_back(next);
    }
    items.swap(merged);
}

// The key splits of each sequence: none unless a group's work exceeds 1 / items_per_worker of a
// worker's share of the whole batch (then as many as bring it under, at least 256 keys each; the
// dense plan's granularity, kernel/problem.hpp), or the caller's count for every sequence.
template <class P>
void choose_splits(const P* problems, index_t count, index_t workers, index_t requested, double density, std::vector<work_plan>& plans) {
    std::vector<double> cost(static_cast<std::size_t>(count));
    double total = 0;
    for (index_t s = 0; s < count; ++s) {
        const P& p = problems[s];
        plans[s] = make_plan(1, p.kv_heads, p.group, p.lq, p.lk, 1, 1, density);
        const index_t rows = p.group * (plans[s].q_tile < p.lq ? plans[s].q_tile : p.lq);
        cost[s] = static_cast<double>(rows) * static_cast<double>(p.lk > 0 ? p.lk : 1);
        total += cost[s] * static_cast<double>(p.kv_heads * plans[s].q_tiles);
    }
    // In doubles: an executor may report any workers() (index max from a pool adapter's guess).
    const double share = total / (static_cast<double>(work_plan::items_per_worker) * static_cast<double>(workers > 1 ? workers : 1));
    for (index_t s = 0; s < count; ++s) {
        const P& p = problems[s];
        index_t splits = requested;
        if (splits == 0 && workers > 1 && cost[s] > share)
            splits = static_cast<index_t>(std::min(std::ceil(cost[s] / share), static_cast<double>(useful_splits(p.lk))));
        if (splits == 0) splits = 1;
        if (splits > 1) plans[s] = make_plan(1, p.kv_heads, p.group, p.lq, p.lk, 1, splits, density);
    }
}

template <class Arch, class Variant, class Exec, class P>
void run_batch(const P* problems, index_t count, const Variant& var, const Exec& exec, index_t requested_splits) {
    // A wider instantiation of this call compiled into the program (simd/dispatch.hpp) runs instead.
    using signature = void(const P*, index_t, const Variant&, const Exec&, index_t);
    if (signature* wider = dispatch::route<signature, Arch, &run_batch<Arch, Variant, Exec, P>>())
        return wider(problems, count, var, exec, requested_splits);
    if (count == 0) return;
    std::vector<work_plan> plans(static_cast<std::size_t>(count));
    choose_splits(problems, count, exec.workers(), requested_splits, detail::router_density(var.router()), plans);
    std::vector<planned<Arch, P, Variant>> work;
    work.reserve(static_cast<std::size_t>(count));
    std::vector<batch_item> items;
    // Per sequence: where its groups' partial slots and finish counters start (splits > 1 only).
    std::vector<index_t> slot_first(static_cast<std::size_t>(count), 0), done_first(static_cast<std::size_t>(count), 0);
    index_t slot_floats = 0, counters = 0;
    for (index_t s = 0; s < count; ++s) {
        const P& p = problems[s];
        work.push_back(planned<Arch, P, Variant>{p, var, plans[s], s, 1});
        const work_plan& plan = plans[s];
        const index_t groups = work.back().groups();
        const double cost =
            static_cast<double>(p.group * plan.q_tile) * static_cast<double>(p.lk + work_plan::kv_tile) / static_cast<double>(plan.splits);
        // ≥ 32 rows an item: each K/V byte feeds enough FMAs that the item is bound by arithmetic.
        const bool compute_bound = p.group * (plan.q_tile < p.lq ? plan.q_tile : p.lq) >= 32;
        for (index_t g = 0; g < groups; ++g)
            for (index_t sp = 0; sp < plan.splits; ++sp) items.push_back(batch_item{s, g, sp, cost, compute_bound});
        if (plan.splits > 1) {
            slot_first[s] = slot_floats;
            done_first[s] = counters;
            slot_floats = detail::checked_add(
                slot_floats, detail::checked_product("batch split workspace", groups, plan.splits, plan.rows_max, 2 + p.dv),
                "batch split workspace");
            counters += groups;
        }
    }
    if (items.empty()) return;
    order_items(items);

    const call_lease call(problems[0].ws);
    float* partials = counters > 0 ? call->partials.get(slot_floats) : nullptr;
    index_t* done = counters > 0 ? call->finished.get(counters) : nullptr;
    for (index_t c = 0; c < counters; ++c) done[c] = 0;
    ::attune::detail::parallel_for(exec, static_cast<index_t>(items.size()), [&](index_t i) {
        const item_level level;
        const worker_lease lease(problems[0].ws);
        const batch_item& it = items[static_cast<std::size_t>(i)];
        const auto& w = work[static_cast<std::size_t>(it.seq)];
        if (w.plan.splits == 1) return w.run_whole(it.group);
        const partial_slots slots{partials + slot_first[it.seq], w.plan.rows_max, w.p.dv};
        w.run_split(it.group, it.split, slots[it.group * w.plan.splits + it.split]);
        // acq_rel: the last split of the group sees every other split's partial writes.
        if (__atomic_add_fetch(done + done_first[it.seq] + it.group, index_t(1), __ATOMIC_ACQ_REL) == w.plan.splits)
            w.merge_group(it.group, slots, it.group * w.plan.splits);
    });
}

}  // namespace attune::kernel
