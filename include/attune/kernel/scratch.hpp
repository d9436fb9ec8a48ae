#pragma once
// Grow-only, 64-byte aligned float buffers. The kernels keep one set per thread (thread_local), so
// after the first call of a given size no step allocates: decode loops stay allocation-free.
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
        thread_local item_scratch s;
        return s;
    }
};

// The score modifier's per-item lanes: query positions + its lane arrays, (1 + n) × rows_padded.
// Apart from item_scratch so that variants without a modifier keep the same per-thread set.
inline buffer& score_lane_scratch() {
    thread_local buffer b;
    return b;
}

}  // namespace attune::kernel
