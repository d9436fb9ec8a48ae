#pragma once
// The small index structs every policy hook receives, instead of loose integers.
// Positions are absolute: query i of Lq sits at q_pos = Lk − Lq + i (bottom-right alignment,
// SPEC.md "Conventions"), so masks never need to know Lq or Lk.
#include "attune/core/types.hpp"

namespace attune {

struct index_context {
    index_t batch;
    index_t q_head;
    index_t kv_head;
    index_t q_pos;
    index_t k_pos;
};

// A rectangle of the score matrix: query positions [q_first, q_last] × key positions
// [k_first, k_last], both inclusive, for one batch and kv head, and the query heads
// [q_head_first, q_head_last] of that kv head the rectangle's rows belong to (a mask that differs
// per head classifies the union; when a caller leaves them out, the range spans every head).
struct tile_context {
    index_t batch;
    index_t kv_head;
    index_t q_first;
    index_t q_last;
    index_t k_first;
    index_t k_last;
    index_t q_head_first = 0;
    index_t q_head_last = index_t(1) << 62;
};

// Keys [first, last] (inclusive, absolute positions). Masks whose visible keys form one interval
// per row expose it as `key_range keys(const index_context& row) const` (k_pos unused); the engine
// then masks partial tiles lane-wise. It must agree with visible().
struct key_range {
    index_t first;
    index_t last;
};

// Two intervals per row (sinks + window): `key_range_pair key_pair(const index_context& row) const`;
// the row sees the union, either part may be empty (last < first). Also lane-wise in the engine.
struct key_range_pair {
    key_range first;
    key_range second;
};

// What a mask says about a whole tile: skip it, test each element, or take it whole.
enum class tile_class { empty, partial, full };

}  // namespace attune
