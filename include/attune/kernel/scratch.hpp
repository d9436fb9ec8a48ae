#pragma once
// Grow-only, 64-byte aligned buffers: where the tile engine works. By default each thread keeps one
// set of its own (thread_local), so after the first call of a given size no step allocates and
// decode loops stay allocation-free. A caller that plans its memory passes an attune::workspace
// (kernel/workspace.hpp) instead, and the work items of its calls lease their sets from it.
#include <memory>
#include <vector>

#include "attune/core/buffer.hpp"
#include "attune/core/types.hpp"

namespace attune::kernel {

template <class T>
using basic_buffer = detail::grow_buffer<T>;
using buffer = basic_buffer<float>;

// A policy may itself call attention from inside a work item (a router that computes its gates
// with attention, a mask that asks a model): the inner call's items then run on the same thread
// while the outer item's scratch is live, and one shared per-thread set would be overwritten or
// regrown under it (wrong output, use after free). So every work item marks its nesting level on
// its thread (item_level), and per-thread scratch is one set per level: level 0 for items of a
// top-level call, 1 for a call made from inside one, … Grow-only, so a decode loop still
// allocates nothing after warm-up.
inline int& item_depth() noexcept {
    thread_local int depth = 0;
    return depth;
}
// RAII: an item of the tile engine is running on this thread (exception-safe).
struct item_level {
    item_level() noexcept { ++item_depth(); }
    ~item_level() { --item_depth(); }
    item_level(const item_level&) = delete;
    item_level& operator=(const item_level&) = delete;
};
// The level the running item's scratch lives at (0 outside items, e.g. a probe pass's own loop).
inline int item_scratch_level() noexcept {
    const int d = item_depth();
    return d > 0 ? d - 1 : 0;
}

// One S per nesting level, created on first use (stable addresses: the vector holds pointers).
template <class S>
class level_set {
public:
    S& at(int level) {
        while (static_cast<int>(levels_.size()) <= level) levels_.push_back(std::make_unique<S>());
        return *levels_[static_cast<std::size_t>(level)];
    }
    S& item() { return at(item_scratch_level()); }  // the running item's
    void clear() noexcept { levels_.clear(); }

private:
    std::vector<std::unique_ptr<S>> levels_;
};

// The per-thread working set of one work item of the tile engine.
struct item_scratch {
    buffer qt;                     // packed, scaled queries: [dk][rows_padded]
    buffer q_pairs;                // few rows with bf16 K: the query rows split as bf16 pairs are (simd/pairs.hpp): [rows_padded][dk]
    buffer scores;                 // scores, then weights: [tile_keys][rows_padded]
    buffer acc;                    // output accumulators: [rows][dv_padded]
    buffer k_tile;                 // K tile converted to float (bf16/half storage only): [tile_keys][dk]
    buffer v_tile;                 // V tile converted / padded: [tile_keys][dv_padded]
    buffer state;                  // m, l, alpha, mask lo/hi (two intervals): 7 × rows_padded
    buffer amx_q;                  // bf16 Q as VNNI pairs for the AMX score tiles (simd/amx.hpp): [dk32/2][rows_padded] × 32 bits
    buffer amx_k;                  // a zero-padded 16-key block of K in bf16: 16 × dk32 × 16 bits
    buffer amx_p;                  // weights rounded to bf16 for AMX P·V: [rows_padded][64 keys] × 16 bits
    buffer amx_v;                  // the V tile as bf16 key pairs for AMX P·V: [32 pairs][dv_padded] × 32 bits
    buffer int8_q;                 // options::int8_qk: Q as int8 quads [dp/4][rows_padded], row scales, offsets, corrections, k̄
    buffer int8_k;                 // options::int8_qk: the K tile in int8 [tile_keys][dp] and its integer sums [tile_keys][rows_padded]
    basic_buffer<index_t> bounds;  // a partial tile's keys per row and per row vector: 2 × rows_padded + 2 × vectors
    basic_buffer<const void*> k_rows, v_rows;  // a paged tile's K and V row addresses, and the rows ahead to prefetch

    std::size_t bytes() const noexcept {
        return qt.bytes() + q_pairs.bytes() + scores.bytes() + acc.bytes() + k_tile.bytes() + v_tile.bytes() + state.bytes() +
               amx_q.bytes() + amx_k.bytes() + amx_p.bytes() + amx_v.bytes() + int8_q.bytes() + int8_k.bytes() + bounds.bytes() +
               k_rows.bytes() + v_rows.bytes();
    }
    static item_scratch& local();
};

// An item's row list (kernel/rows.hpp): query heads and tokens, and a router's gates.
struct row_scratch {
    basic_buffer<index_t> index;
    buffer gate;
    std::size_t bytes() const noexcept { return index.bytes() + gate.bytes(); }
    static row_scratch& local();
};

// Everything one running work item uses: its stages' buffers, its rows, a score modifier's lanes,
// and the partial states of a key range summed in blocks (kernel/driver.hpp).
struct worker_scratch {
    item_scratch item;
    row_scratch rows;
    buffer score_lanes;  // query positions + the modifier's lane arrays, (1 + n) × rows_padded
    buffer blocks;       // run_blocks: the binary counter's states
    buffer whole;        // one merged state of a blocked item
    std::size_t bytes() const noexcept { return item.bytes() + rows.bytes() + score_lanes.bytes() + blocks.bytes() + whole.bytes(); }
};

// What one call keeps while its items run: the split partial results and their completion counts.
struct call_scratch {
    buffer partials;
    basic_buffer<index_t> finished;
    std::size_t bytes() const noexcept { return partials.bytes() + finished.bytes(); }
};

// The set a lease (kernel/workspace.hpp) put in place on this thread, and the item level it is for.
struct leased_set {
    worker_scratch* set = nullptr;
    int level = -1;
};
inline leased_set& thread_lease() noexcept {
    thread_local leased_set lease;
    return lease;
}

// This thread's own sets, one per nesting level: the default when a call has no workspace.
struct thread_buffers {
    level_set<worker_scratch> workers;
    level_set<call_scratch> calls;
};
inline thread_buffers& thread_own() {
    thread_local thread_buffers own;
    return own;
}

// The running item's set: the one leased from a workspace for it, else this thread's own.
inline worker_scratch& worker_local() {
    const leased_set& lease = thread_lease();
    if (lease.set != nullptr && lease.level == item_scratch_level()) return *lease.set;
    return thread_own().workers.item();
}
inline item_scratch& item_scratch::local() { return worker_local().item; }
inline row_scratch& row_scratch::local() { return worker_local().rows; }

// The score modifier's per-item lanes. Apart from item_scratch so that variants without a modifier
// keep the same per-thread set.
inline buffer& score_lane_scratch() { return worker_local().score_lanes; }

}  // namespace attune::kernel
