#pragma once
// What one attention call computes (validated shapes, scale) and how its work is cut up.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "attune/core/policy.hpp"
#include "attune/core/view.hpp"

namespace attune {
class workspace;  // kernel/workspace.hpp
}

namespace attune::kernel {

template <class TQ, class TK, class TV, class TO>
struct problem {
    tensor_view<const TQ> q;
    tensor_view<const TK> k;
    tensor_view<const TV> v;
    tensor_view<TO> out;
    tensor_view<float> lse;  // optional [batch, q_heads, lq, 1]
    float scale;
    index_t batch, q_heads, kv_heads, group, lq, lk, dk, dv;
    workspace* ws = nullptr;    // where items take their buffers; null: each thread's own
    index_t sequence = -1;      // a ragged batch's problems: which sequence (batch index); −1: all
    bool int8_qk = false;       // options::int8_qk: prefill scores from int8 Q and K (kernel/int8_score_stage.hpp)
    std::uint64_t call_id = 0;  // options::int8_qk: this call's serial (next_call_id), so that int8 keys are reused within it only
    index_t q_pos0() const noexcept { return lk - lq; }  // absolute position of query 0 (bottom-right)
};

// A problem whose keys and values lie in pages of a pool (core/paged.hpp): one sequence's pages,
// lk keys in ceil(lk / page_size) of them; k and v of the base are empty.
template <class TQ, class TK, class TV, class TO>
struct paged_problem : problem<TQ, TK, TV, TO> {
    tensor_view<const TK> k_pages;        // [pages, kv_heads, page_size, dk]
    tensor_view<const TV> v_pages;        // [pages, kv_heads, page_size, dv]
    const std::int32_t* pages = nullptr;  // the sequence's page ids, validated
};

// A serial per call that may reuse per-thread state across its items (the int8 keys of
// options::int8_qk): never 0, never repeated within a process.
inline std::uint64_t next_call_id() noexcept {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
}

// Work items are (batch, kv head, query tile, key split). All query heads of a kv group are
// processed together so that every K/V byte of a tile is read once per group.
struct work_plan {
    index_t q_tile = 1;                     // query tokens per item
    static constexpr index_t kv_tile = 64;  // keys per tile of the inner loop
    // Keys summed in one fp32 running state. A longer key range is cut into blocks whose states
    // are merged pairwise with ⊕ (kernel/driver.hpp), so the rounding of the sums grows with
    // log(Lk / max_block_keys) rather than with Lk: one running sum of 2^26 unit weights (exact
    // only up to 2^24) would lose half the mass.
    static constexpr index_t max_block_keys = index_t(1) << 16;
    index_t q_tiles = 1;
    index_t splits = 1;     // key ranges merged with ⊕ afterwards
    index_t split_len = 0;  // keys per split, a multiple of kv_tile
    index_t block_len = 0;  // keys per running state inside a split (≤ max_block_keys; a split's last block may be shorter)
    index_t rows_max = 1;   // group × q_tile: rows of one item
    // Items a worker's share is cut into when the groups alone are too few (decode): the items are
    // scheduled dynamically, so a worker that runs slower than the others (a CPU shared with
    // another tenant's or process's threads: bench/RESULTS.md, run 26) takes fewer of them instead of
    // holding up the call.
    static constexpr index_t items_per_worker = 8;
};

// a, b ≥ 0, b > 0; no a + b − 1 that could wrap.
inline index_t ceil_div(index_t a, index_t b) { return a / b + (a % b != 0); }
inline index_t round_up(index_t a, index_t b) { return ceil_div(a, b) * b; }

// The most key splits worth making of lk keys: splits of at least ~256 keys (4 tiles).
inline index_t useful_splits(index_t lk) noexcept {
    const index_t kv_tiles = lk > 0 ? ceil_div(lk, work_plan::kv_tile) : 0;
    return kv_tiles / 4 > 1 ? kv_tiles / 4 : 1;
}

// Rows per item ~64 (the score tile and accumulators stay in L2); splits only when the items
// alone are fewer than items_per_worker a worker (decode: few items, long key range).
// row_density: the fraction of rows a router keeps active (1 without one): query tiles grow by its
// inverse (up to 8×) so that an item still holds ~64 active rows.
inline work_plan make_plan(index_t batch, index_t kv_heads, index_t group, index_t lq, index_t lk, index_t workers,
                           index_t requested_splits, double row_density = 1.0) {
    work_plan w;
    const index_t target_rows = 64;
    w.q_tile = target_rows / group > 0 ? target_rows / group : 1;
    if (row_density < 1.0) {
        const double grow = row_density > 0.125 ? 1.0 / row_density : 8.0;
        w.q_tile = static_cast<index_t>(static_cast<double>(w.q_tile) * grow);
    }
    if (w.q_tile > lq) w.q_tile = lq > 0 ? lq : 1;
    w.q_tiles = lq > 0 ? ceil_div(lq, w.q_tile) : 0;
    w.rows_max = group * w.q_tile;
    const index_t kv_tiles = lk > 0 ? ceil_div(lk, w.kv_tile) : 0;
    // An executor may report any workers() (a pool adapter's guess, index max): items_per_worker ×
    // workers below must not wrap, and far fewer than 2^40 give the same plan.
    if (workers > (index_t(1) << 40)) workers = index_t(1) << 40;
    index_t splits = 1;
    if (requested_splits > 0) {
        splits = requested_splits;
    } else if (workers > 1) {
        const index_t base = batch * kv_heads * w.q_tiles;
        const index_t items = w.items_per_worker * workers;
        if (base > 0 && base < items) splits = ceil_div(items, base);
        splits = std::min(splits, useful_splits(lk));
    }
    if (kv_tiles == 0) splits = 1;
    if (splits > kv_tiles && kv_tiles > 0) splits = kv_tiles;
    w.split_len = kv_tiles > 0 ? ceil_div(kv_tiles, splits) * w.kv_tile : 0;
    w.splits = kv_tiles > 0 ? ceil_div(lk, w.split_len) : 1;
    w.block_len = w.split_len <= w.max_block_keys ? w.split_len : w.max_block_keys;
    return w;
}

}  // namespace attune::kernel
