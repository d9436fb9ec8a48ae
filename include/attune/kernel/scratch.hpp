#pragma once
// Grow-only, 64-byte aligned float buffers. The kernels keep one set per thread (thread_local), so
// after the first call of a given size no step allocates: decode loops stay allocation-free.
#include <memory>
#include <vector>

#include "attune/core/third_party.hpp"

#include "attune/core/checked.hpp"
#include "attune/core/types.hpp"

namespace attune::kernel {

template <class T>
class basic_buffer {
public:
    // n elements; a size the allocator refuses is an attune::error, not std::bad_alloc.
    T* get(index_t n) {
        if (static_cast<std::size_t>(n) > data_.size()) detail::checked_resize(data_, n, "attention workspace");
        return data_.data();
    }

private:
    std::vector<T, xsimd::aligned_allocator<T, 64>> data_;
};
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

private:
    std::vector<std::unique_ptr<S>> levels_;
};

// The per-thread working set of one work item of the tile engine.
struct item_scratch {
    buffer qt;      // packed, scaled queries: [dk][rows_padded]
    buffer q_pairs; // few rows with bf16 K: the query rows split as bf16 pairs are (simd/pairs.hpp): [rows_padded][dk]
    buffer scores;  // scores, then weights: [tile_keys][rows_padded]
    buffer acc;     // output accumulators: [rows][dv_padded]
    buffer k_tile;  // K tile converted to float (bf16/half storage only): [tile_keys][dk]
    buffer v_tile;  // V tile converted / padded: [tile_keys][dv_padded]
    buffer state;   // m, l, alpha, mask lo/hi (two intervals): 7 × rows_padded
    buffer amx_q;   // bf16 Q as VNNI pairs for the AMX score tiles (simd/amx.hpp): [dk32/2][rows_padded] × 32 bits
    buffer amx_k;   // a zero-padded 16-key block of K in bf16: 16 × dk32 × 16 bits
    buffer amx_p;   // weights rounded to bf16 for AMX P·V: [rows_padded][64 keys] × 16 bits
    buffer amx_v;   // the V tile as bf16 key pairs for AMX P·V: [32 pairs][dv_padded] × 32 bits
    basic_buffer<index_t> bounds;  // a partial tile's keys per row and per row vector: 2 × rows_padded + 2 × vectors

    static item_scratch& local() {
        thread_local level_set<item_scratch> s;
        return s.item();
    }
};

// The score modifier's per-item lanes: query positions + its lane arrays, (1 + n) × rows_padded.
// Apart from item_scratch so that variants without a modifier keep the same per-thread set.
inline buffer& score_lane_scratch() {
    thread_local level_set<buffer> b;
    return b.item();
}

}  // namespace attune::kernel
