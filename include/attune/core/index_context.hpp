#pragma once
// The small index structs every policy hook receives, instead of loose integers.
// Positions are absolute: query i of Lq sits at q_pos = Lk − Lq + i (bottom-right alignment:
// the last query sits at the last key), so masks never need to know Lq or Lk.
#include "attune/core/types.hpp"

namespace attune {

/// One element of the score matrix, as a policy hook sees it: which batch and heads, and the
/// absolute query and key positions.
struct index_context {
    index_t batch;    ///< batch index
    index_t q_head;   ///< query head
    index_t kv_head;  ///< kv head the query head reads (q_head / (Hq/Hkv))
    index_t q_pos;    ///< absolute query position, Lk − Lq + i for query row i
    index_t k_pos;    ///< key position
};

/// A rectangle of the score matrix: query positions [q_first, q_last] × key positions
/// [k_first, k_last], both inclusive, for one batch and kv head, and the query heads
/// [q_head_first, q_head_last] of that kv head the rectangle's rows belong to (a mask that differs
/// per head classifies the union; when a caller leaves them out, the range spans every head).
struct tile_context {
    index_t batch;                           ///< batch index
    index_t kv_head;                         ///< kv head
    index_t q_first;                         ///< first query position (absolute)
    index_t q_last;                          ///< last query position, inclusive
    index_t k_first;                         ///< first key position
    index_t k_last;                          ///< last key position, inclusive
    index_t q_head_first = 0;                ///< first query head of the rows
    index_t q_head_last = index_t(1) << 62;  ///< last query head of the rows, inclusive
};

/// Keys [first, last] (inclusive, absolute positions). Masks whose visible keys form one interval
/// per row expose it as `key_range keys(const index_context& row) const` (k_pos unused); the engine
/// then masks partial tiles lane-wise. It must agree with visible().
struct key_range {
    index_t first;  ///< first visible key
    index_t last;   ///< last visible key, inclusive (last < first: none)
};

/// Two intervals per row (sinks + window): `key_range_pair key_pair(const index_context& row) const`;
/// the row sees the union, either part may be empty (last < first). Also lane-wise in the engine.
struct key_range_pair {
    key_range first;   ///< the first interval (sinks_window: the sinks)
    key_range second;  ///< the second interval (sinks_window: the window)
};

/// What a mask says about a whole tile: skip it, test each element, or take it whole.
enum class tile_class {
    empty,    ///< no element visible: the tile is skipped
    partial,  ///< some visible: each element is tested
    full      ///< every element visible: no per-element test
};

}  // namespace attune
